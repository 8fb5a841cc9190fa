"""SQLite as a shared database for several processes (the `make run` default).

- Python 3.11's sqlite3 driver opens transactions lazily on its own, which silently breaks
  SAVEPOINT rollback; we switch that off and emit BEGIN ourselves (the recipe in
  SQLAlchemy's SQLite dialect documentation).
- Writers begin IMMEDIATE, so the write lock is taken up front instead of failing with
  "database is locked" when a read lock is upgraded. Read-only work begins DEFERRED
  (see models.db.read_only) and, under WAL, never waits for writers.
- Writers queue on an advisory file lock (flock) beside the database before BEGIN
  IMMEDIATE and hold it until COMMIT or ROLLBACK. The kernel hands it over the moment it
  is released, whereas SQLite's own busy handler polls with sleeps of up to 100 ms, which
  under load put the write lock's waiting time, not the work, into every request's
  latency. The busy timeout stays as the backstop; a crashed process's flock is released
  by the kernel.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

READ_ONLY_OPTION = "replyguard_read_only"
BUSY_TIMEOUT_SECONDS = 15
# A thread that already holds the writer lock through one connection and begins a write on
# another must not wait for itself forever: that second write skips the flock and meets
# SQLite's busy timeout instead (an error after 15 s, not a hang).
_held_by_this_thread = threading.local()


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that holds the writer flock from BEGIN IMMEDIATE to its end."""

    lock_path: str | None = None
    _lock_fd: int | None = None

    def acquire_writer_lock(self) -> None:
        if self.lock_path is None or self._lock_fd is not None:
            return
        if getattr(_held_by_this_thread, "held", False):
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        _held_by_this_thread.held = True

    def release_writer_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            _held_by_this_thread.held = False
            os.close(fd)  # closing the descriptor releases the flock

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()


def connect_args() -> dict[str, Any]:
    """sqlite3.connect() arguments for a database file shared between processes."""
    return {
        "timeout": BUSY_TIMEOUT_SECONDS,
        "check_same_thread": False,
        "factory": LockingConnection,
    }


def on_connect(lock_path: str | None) -> Any:
    """The engine's "connect" listener: pragmas, manual transactions, the lock file."""

    def configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN in on_begin
        if isinstance(dbapi_connection, LockingConnection):
            dbapi_connection.lock_path = lock_path
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.close()

    return configure


def on_begin(connection: Any) -> None:
    """The engine's "begin" listener: DEFERRED for read-only work, else queue and IMMEDIATE."""
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN DEFERRED")
        return
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, LockingConnection):
        dbapi_connection.acquire_writer_lock()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if isinstance(dbapi_connection, LockingConnection):
            dbapi_connection.release_writer_lock()
        raise
