"""A poison comment (RELIABILITY C15): a check raises on it every time.

The test-only hook (tests/faults/hooks) makes the max_links check raise for a comment
carrying FAULT-POISON. Each failed run is counted in the database (the outbox entry's
attempts), the sweeper re-sends it, and the run after REPLYGUARD_MAX_ATTEMPTS holds it for a
human with the reason: it is not retried forever, and the comments around it are decided.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Decision
from tests.faults.conftest import MAX_ATTEMPTS, SITE, FaultDb, Reporter, StackFactory
from tests.support.faultstack import (
    FaultRedis,
    assert_ledger_consistent,
    comment_text,
    submit,
    wait_all_decided,
)

RAISED = "raised unexpected: RuntimeError('fault hook: this comment crashes the max_links"


def test_poison_comment_is_held_with_the_reason_after_max_attempts(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    fault_report: Reporter,
) -> None:
    """C15: held (decided_by system, reason given) after MAX_ATTEMPTS failed runs, then
    never run again; healthy comments submitted around it are approved."""
    stack = make_stack(fault_db, redis_volatile)
    started = time.monotonic()
    attempts = [
        submit(stack.base_url, SITE, "c15", comment_text()),
        submit(stack.base_url, SITE, "c15", comment_text("FAULT-POISON")),
        submit(stack.base_url, SITE, "c15", comment_text()),
    ]
    assert [a.status for a in attempts] == [202] * 3
    ids = [a.comment_id for a in attempts if a.comment_id is not None]
    wait_all_decided(fault_db.engine, ids, timeout=90)
    took = time.monotonic() - started

    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    assert ledger.statuses == {"approved": 2, "held": 1}, ledger.statuses
    with Session(fault_db.engine) as session:
        decision = session.scalars(select(Decision).where(Decision.comment_id == ids[1])).one()
    assert (decision.to_status, decision.decided_by) == ("held", "system")
    assert f"failed {MAX_ATTEMPTS} times" in decision.reason, decision.reason
    runs = stack.worker.log_text().count(RAISED)
    assert runs == MAX_ATTEMPTS + 1, f"{runs} failed runs"
    time.sleep(3)  # a few more sweeps: it is not run again
    assert stack.worker.log_text().count(RAISED) == runs
    print(f"\npoison comment: {runs} failed runs, held after {took:.1f}s: {decision.reason}")
    fault_report("poison comment (a check raises)", "C15", ledger, attempts, took)
