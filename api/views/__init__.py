"""Blueprints: thin views (load → core → commit → dump)."""
