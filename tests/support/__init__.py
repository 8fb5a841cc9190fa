"""Shared test helpers: databases, processes, polling."""
