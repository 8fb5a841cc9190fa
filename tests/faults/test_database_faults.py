"""PostgreSQL faults (RELIABILITY C3, C9) on the suite's private cluster.

The database is the system of record: while it is down the API refuses with a clear 503
(`temporarily_unavailable`, Retry-After) and stores and sends nothing; once it is back,
pool_pre_ping replaces the dead connections of the API and the workers, and every comment
that got a 202 is decided exactly once.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import tasknames
from models import Comment
from tests.faults.conftest import SITE, FaultDb, Reporter, StackFactory
from tests.support.faultstack import (
    Attempt,
    FaultRedis,
    PostgresCluster,
    Submitter,
    assert_ledger_consistent,
    comment_text,
    submit,
    wait_all_decided,
)
from tests.support.stack import LOOPBACK, RedisMonitor

SUBMISSIONS = 40
PER_SECOND = 10.0


def assert_clear_refusal(attempt: Attempt) -> None:
    """RELIABILITY §0.5: a non-2xx is JSON with an error code, Retry-After, and no hang."""
    assert attempt.status == 503, attempt
    assert attempt.error == "temporarily_unavailable", attempt
    assert attempt.retry_after is not None and int(attempt.retry_after) > 0, attempt
    assert attempt.elapsed < 5.0, attempt


def test_postgres_restarted_while_submissions_arrive(
    pg_cluster: PostgresCluster,
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    fault_report: Reporter,
) -> None:
    """C9 (database side): 40 comments at 10/s; after 10, `pg_ctl restart -m fast` (every
    connection of the API, the worker and beat is cut). Requests during the restart get a
    clean 503; every 202 is decided once; nothing refused was stored."""
    stack = make_stack(fault_db, redis_volatile)
    submitter = Submitter(stack.base_url, SITE, "c9", total=SUBMISSIONS, per_second=PER_SECOND)
    submitter.start()
    submitter.wait_sent(10, timeout=30)
    pg_cluster.restart()
    back_at = time.monotonic()
    attempts = submitter.finish()

    for refused in (a for a in attempts if a.status != 202):
        assert_clear_refusal(refused)
    accepted = [a for a in attempts if a.status == 202]
    assert len(accepted) >= SUBMISSIONS - 15, [a.status for a in attempts]
    assert attempts[-1].status == 202, "the API did not recover after the restart"
    ids = [a.comment_id for a in accepted if a.comment_id is not None]
    wait_all_decided(fault_db.engine, ids, timeout=90)
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    fault_report(
        "PostgreSQL restart (pg_ctl -m fast) during submissions",
        "C9",
        ledger,
        attempts,
        time.monotonic() - back_at,
    )


def test_database_down_at_submit_time_answers_503_and_stores_nothing(
    pg_cluster: PostgresCluster,
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    fault_report: Reporter,
) -> None:
    """C3: PostgreSQL stopped; 10 POSTs each get 503 JSON `temporarily_unavailable` with
    Retry-After within 5 s, and no message reaches Redis (MONITOR sees no LPUSH to the
    moderation queue). After the restart the next submissions are accepted and decided."""
    stack = make_stack(fault_db, redis_volatile)
    monitor = RedisMonitor(LOOPBACK, redis_volatile.port, 0).begin()
    pg_cluster.stop("fast")
    try:
        refused = [submit(stack.base_url, SITE, "c3", comment_text()) for _ in range(10)]
    finally:
        pg_cluster.start()
        commands = monitor.stop()
    back_at = time.monotonic()
    for attempt in refused:
        assert_clear_refusal(attempt)
    pushed = [c for c in commands if c and c[0].upper() == "LPUSH"]
    assert not [c for c in pushed if c[1] == tasknames.QUEUE_MODERATION], pushed
    with Session(fault_db.engine) as session:
        assert session.scalar(select(func.count()).select_from(Comment)) == 0

    later = [submit(stack.base_url, SITE, "c3", comment_text()) for _ in range(3)]
    assert [a.status for a in later] == [202] * 3, later
    ids = [a.comment_id for a in later if a.comment_id is not None]
    wait_all_decided(fault_db.engine, ids, timeout=60)
    attempts = refused + later
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    fault_report(
        "PostgreSQL down at submit time", "C3", ledger, attempts, time.monotonic() - back_at
    )
