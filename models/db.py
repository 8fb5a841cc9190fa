"""Engine and session factory for PostgreSQL (psycopg 3) and SQLite (see models.sqlite for
what makes one SQLite file safe and fast to share between the API and the worker)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from models import sqlite


def make_engine(
    database_url: str, *, application_name: str = "replyguard", **kwargs: Any
) -> Engine:
    """Create an engine for PostgreSQL (psycopg 3) or SQLite with production-safe options."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database if url.database and url.database != ":memory:" else None
        engine = create_engine(url, connect_args=sqlite.connect_args(), **kwargs)
        event.listen(engine, "connect", sqlite.on_connect(f"{path}.writer-lock" if path else None))
        event.listen(engine, "begin", sqlite.on_begin)
        return engine
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args = {"connect_timeout": 3, "application_name": application_name}
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", 3)
    return create_engine(url, connect_args=connect_args, **kwargs)


def read_only(session: Session) -> Session:
    """Mark a fresh session's transaction as read-only: on SQLite it then begins DEFERRED
    and does not queue behind writers; elsewhere nothing changes. Call before its first
    statement; a write in such a session would fail on SQLite when another writer is busy."""
    session.connection(execution_options={sqlite.READ_ONLY_OPTION: True})
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
