"""Fixtures of the fault suite (`make test-faults`): real processes, private servers.

One private PostgreSQL cluster serves the whole session (initdb + pg_ctl on a free port;
see tests/support/faultstack.py). A template database is migrated once, and every test gets
its own copy of it, so the ledger check can account for every row. Every test gets its own
redis-server on a free port and its own gunicorn + Celery worker (+ beat) stack, whose
processes load the test-only fault hooks in tests/faults/hooks (a sitecustomize that wraps
one check for comments carrying a FAULT-* marker). The shared 5432/6379 are never touched.

Each test is bounded by an alarm (TEST_TIMEOUT_SECONDS) on top of the deadlines of every
wait inside it. Tests report their numbers through `fault_report`; the table is printed at
the end of the run (and is what docs/reliability.md records).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from sqlalchemy import Engine

from core.config import Settings
from core.sites import ensure_site
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.support.faultstack import Attempt, FaultRedis, Ledger, PostgresCluster
from tests.support.stack import LiveStack, stack_settings

SITE = "gazette"
TEMPLATE_DB = "replyguard_faults_template"
HOOKS_DIR = Path(__file__).resolve().parent / "hooks"
TEST_TIMEOUT_SECONDS = 180
# Short sweeper periods keep recovery within seconds (production: 60 s / 120 s).
SWEEP_INTERVAL_SECONDS = 1
STALE_AFTER_SECONDS = 4
MAX_ATTEMPTS = 3

_REPORT_KEY = pytest.StashKey[list[dict[str, Any]]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in item.nodeid:
            item.add_marker(pytest.mark.faults)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT_KEY] = []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = config.stash.get(_REPORT_KEY, [])
    if not rows:
        return
    write = terminalreporter.write_line
    write("")
    write("fault | rows | accepted | decided | lost | duplicated | refused | recovery s")
    write("--- | --- | --- | --- | --- | --- | --- | ---")
    for row in rows:
        write(
            f"{row['fault']} | {row['rows']} | {row['accepted']} | {row['decided']} | "
            f"{row['lost']} | {row['duplicated']} | {row['refused']} | {row['recovery']:.1f}"
        )


@pytest.fixture(autouse=True)
def _bounded_in_time() -> Iterator[None]:
    """Fail (rather than hang) a test that outlives TEST_TIMEOUT_SECONDS."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"fault test exceeded {TEST_TIMEOUT_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """The session's private PostgreSQL, with a migrated template database."""
    cluster = PostgresCluster()
    try:
        cluster.init().start()
        url = cluster.create_database(TEMPLATE_DB)
        upgrade(url)
        engine = make_engine(url)
        try:
            with session_scope(make_sessionmaker(engine)) as session:
                ensure_site(session, SITE, name="The Fault Gazette")
        finally:
            engine.dispose()
        yield cluster
    finally:
        cluster.destroy()


@dataclass
class FaultDb:
    url: str
    engine: Engine


@pytest.fixture
def fault_db(pg_cluster: PostgresCluster) -> Iterator[FaultDb]:
    """This test's own database (a copy of the migrated template)."""
    url = pg_cluster.create_database(f"faults_{uuid.uuid4().hex[:10]}", template=TEMPLATE_DB)
    engine = make_engine(url)
    yield FaultDb(url, engine)
    engine.dispose()


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    path = tmp_path / "hooks-out"
    path.mkdir()
    return path


def fault_settings(database_url: str, broker_url: str, instance: Path) -> Settings:
    return stack_settings(
        database_url,
        broker_url,
        instance,
        sweep_interval_seconds=SWEEP_INTERVAL_SECONDS,
        stale_after_seconds=STALE_AFTER_SECONDS,
        max_attempts=MAX_ATTEMPTS,
        flood_seconds=0,
    )


StackFactory = Callable[..., LiveStack]


@pytest.fixture
def make_stack(tmp_path: Path, hook_dir: Path) -> Iterator[StackFactory]:
    """Start gunicorn + a Celery worker (+ beat) with the fault hooks; stopped at the end."""
    started: list[LiveStack] = []

    def make(db: FaultDb, broker: FaultRedis, *, beat: bool = True, concurrency: int = 1) -> Any:
        settings = fault_settings(db.url, broker.url, tmp_path / "instance")
        stack = LiveStack(settings, tmp_path / "stack", beat=beat, concurrency=concurrency)
        # One env dict is shared by every process of the stack.
        stack.env.update(PYTHONPATH=str(HOOKS_DIR), FAULTHOOK_DIR=str(hook_dir))
        started.append(stack)
        return stack.start()

    yield make
    for stack in started:
        stack.stop()


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[FaultRedis]:
    server = FaultRedis(tmp_path / "redis-aof", appendonly=True).start()
    yield server
    server.stop()


@pytest.fixture
def redis_volatile(tmp_path: Path) -> Iterator[FaultRedis]:
    server = FaultRedis(tmp_path / "redis-volatile", appendonly=False).start()
    yield server
    server.stop()


Reporter = Callable[..., None]


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Reporter:
    """Record one fault's numbers for the summary table (and print them right away)."""

    def record(fault: str, rows: str, ledger: Ledger, attempts: list[Attempt], recovery: float):
        row = {
            "fault": fault,
            "rows": rows,
            "accepted": ledger.accepted,
            "decided": ledger.decided,
            "lost": ledger.lost,
            "duplicated": ledger.duplicated,
            "refused": sum(a.status != 202 for a in attempts),
            "recovery": recovery,
            "statuses": dict(ledger.statuses),
        }
        request.config.stash[_REPORT_KEY].append(row)
        print(f"\nFAULT RESULT {row}")

    return record
