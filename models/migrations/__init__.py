"""Alembic migrations; run them through models.migrate.upgrade()."""
