"""Engine and session factory. SQLite gets the pragmas that make it safe to share between
the API and the worker (WAL, foreign keys, a busy timeout) and a transaction mode in which
SAVEPOINTs work: Python 3.11's sqlite3 driver opens transactions lazily on its own, which
silently breaks SAVEPOINT rollback, so we disable that and emit BEGIN ourselves (the recipe
in SQLAlchemy's SQLite dialect documentation)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(
    database_url: str, *, application_name: str = "replyguard", **kwargs: Any
) -> Engine:
    """Create an engine for PostgreSQL (psycopg 3) or SQLite with production-safe options."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": 15, "check_same_thread": False},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args = {"connect_timeout": 3, "application_name": application_name}
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", 3)
    return create_engine(url, connect_args=connect_args, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN in _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of failing with "database is locked" when one upgrades a read lock.
    # Read-only work opts out (see read_only) and never waits for writers under WAL.
    mode = "DEFERRED" if connection.get_execution_options().get(READ_ONLY_OPTION) else "IMMEDIATE"
    connection.exec_driver_sql(f"BEGIN {mode}")


READ_ONLY_OPTION = "replyguard_read_only"


def read_only(session: Session) -> Session:
    """Mark a fresh session's transaction as read-only: on SQLite it then begins DEFERRED
    and does not queue behind writers; elsewhere nothing changes. Call before its first
    statement; a write in such a session would fail on SQLite when another writer is busy."""
    session.connection(execution_options={READ_ONLY_OPTION: True})
    return session


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views dump after committing)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
