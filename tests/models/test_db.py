"""SQLite's transaction modes: writers queue on the write lock, readers never wait for it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from models.db import make_engine, read_only


def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    writer = Session(engine)
    writer.execute(text("INSERT INTO t VALUES (2)"))  # BEGIN IMMEDIATE: holds the write lock
    try:
        started = time.monotonic()
        with read_only(Session(engine)) as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
        assert time.monotonic() - started < 1.0
        second_writer = sqlite3.connect(tmp_path / "db.sqlite3", timeout=0.2, isolation_level=None)
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            second_writer.execute("BEGIN IMMEDIATE")
        assert time.monotonic() - started >= 0.15  # it waited on the lock, then gave up
        second_writer.close()
    finally:
        writer.rollback()
        writer.close()
    engine.dispose()
