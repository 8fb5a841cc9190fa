"""Apply the Alembic migrations shipped in models/migrations (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(database_url: str = "", connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at our migrations, for a URL or an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    database_url: str = "", connection: Connection | None = None, revision: str = "head"
) -> None:
    """Bring the schema to `revision` (the newest by default). Safe to run repeatedly."""
    command.upgrade(alembic_config(database_url, connection), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Roll the schema back (used by the migration round-trip test)."""
    command.downgrade(alembic_config(database_url), revision)
