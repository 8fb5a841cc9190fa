"""Migrations run on SQLite and PostgreSQL and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from models import Base
from models.db import make_engine
from models.migrate import downgrade, upgrade

TABLES = {"sites", "threads", "comments", "decisions", "check_results", "outbox", "alembic_version"}


def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == TABLES
    downgrade(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    upgrade(url)
    upgrade(url)  # idempotent
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_migrated_schema_matches_models(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) == TABLES
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
