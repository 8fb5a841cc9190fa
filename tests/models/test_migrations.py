"""Migrations run on SQLite and PostgreSQL and match the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from models import Base
from models.db import make_engine
from models.migrate import downgrade, upgrade

TABLES = {
    "training_labels",
    "site_models",
    "sites",
    "threads",
    "comments",
    "decisions",
    "check_results",
    "outbox",
    "moderators",
    "memberships",
    "web_sessions",
    "api_tokens",
    "login_attempts",
    "audit_log",
    "author_marks",
    "events",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "alembic_version",
}


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


def test_upgrade_from_0001_copies_each_comments_site(tmp_path: Path) -> None:
    """Comments stored before revision 0002 get their thread's site, and keep their status."""
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade(url, revision="0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sites (id, key, name, allowed_origins, policy, created_at) "
            "VALUES (7, 'old', 'Old', '[]', '{}', '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO threads (id, site_id, key, closed, created_at) "
            "VALUES (3, 7, 't', 0, '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO comments (id, thread_id, author_name, email_ciphertext, email_key_id, "
            "email_index, body, body_hash, status, submitted_at) VALUES (11, 3, 'A', x'00', "
            "'k', x'00', 'hello', x'00', 'held', '2026-01-01 00:00:00')"
        )
    upgrade(url)
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT site_id, status FROM comments WHERE id = 11").one()
    assert tuple(row) == (7, "held")
    engine.dispose()
