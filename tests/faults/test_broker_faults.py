"""Redis faults (RELIABILITY C2, C8): the broker is not the system of record.

Every 202 is committed in PostgreSQL with an outbox entry before anything is sent to Redis,
so a broker that is down, killed, or restarted empty loses no comment: the outbox sweeper
re-sends whatever Redis lost, and the idempotent task decides each comment once.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import SITE, FaultDb, Reporter, StackFactory
from tests.support.faultstack import (
    FaultRedis,
    Submitter,
    assert_ledger_consistent,
    comment_text,
    submit,
    wait_all_decided,
)

SUBMISSIONS = 40
PER_SECOND = 10.0
DOWN_SECONDS = 2.0


@pytest.mark.parametrize("persistence", ["aof", "none"])
def test_redis_killed_and_restarted_while_submissions_arrive(
    persistence: str,
    fault_db: FaultDb,
    redis_aof: FaultRedis,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    fault_report: Reporter,
) -> None:
    """C8: 40 comments at 10/s; after 10 of them redis-server is SIGKILLed, stays down 2 s
    and comes back on the same folder: (a) AOF everysec, (b) no persistence (it comes back
    empty). Every POST still answers 202 quickly; all comments are decided exactly once."""
    broker = redis_aof if persistence == "aof" else redis_volatile
    stack = make_stack(fault_db, broker)
    submitter = Submitter(
        stack.base_url, SITE, f"c8-{persistence}", total=SUBMISSIONS, per_second=PER_SECOND
    )
    submitter.start()
    submitter.wait_sent(10, timeout=30)
    broker.kill9()
    time.sleep(DOWN_SECONDS)
    broker.start()
    back_at = time.monotonic()
    attempts = submitter.finish()

    assert [a.status for a in attempts] == [202] * SUBMISSIONS, [a.status for a in attempts]
    assert max(a.elapsed for a in attempts) < 3.0, max(a.elapsed for a in attempts)
    ids = [a.comment_id for a in attempts if a.comment_id is not None]
    wait_all_decided(fault_db.engine, ids, timeout=90)
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    label = "AOF everysec" if persistence == "aof" else "no persistence"
    fault_report(
        f"Redis kill -9 + restart ({label}) during submissions",
        "C8",
        ledger,
        attempts,
        time.monotonic() - back_at,
    )


def test_broker_down_at_submit_time_is_decided_after_it_returns(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    fault_report: Reporter,
) -> None:
    """C2: with Redis stopped, 10 POSTs all answer 202 within the broker timeout (the failed
    publish is only logged); Redis comes back empty and the sweeper re-sends all of them."""
    stack = make_stack(fault_db, redis_volatile)
    redis_volatile.stop()
    attempts = [submit(stack.base_url, SITE, "c2", comment_text()) for _ in range(10)]
    assert [a.status for a in attempts] == [202] * 10
    assert max(a.elapsed for a in attempts) < 2.0, [round(a.elapsed, 2) for a in attempts]
    stack.wait_for_log(stack.api, r"publish failed, the sweeper will re-send", timeout=5, count=10)
    redis_volatile.start()
    back_at = time.monotonic()
    ids = [a.comment_id for a in attempts if a.comment_id is not None]
    recovery = wait_all_decided(fault_db.engine, ids, timeout=60)
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    fault_report("Redis down at submit time", "C2, C14", ledger, attempts, recovery)
    assert time.monotonic() - back_at < 60
