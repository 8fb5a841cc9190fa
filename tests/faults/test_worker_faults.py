"""Workers killed with SIGKILL mid-task (RELIABILITY C4, C5) and a comment that kills every
worker that touches it (C4b): decided after the restart, exactly once, or held for a human.

The task is held mid-way by the test-only hook (tests/faults/hooks): a FAULT-SLOW-<n>
comment makes the max_links check write `running-<pid>-<id>` and sleep n seconds, so the
test knows which process is running it right now.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CommentStatus, Decision
from tests.faults.conftest import (
    MAX_ATTEMPTS,
    SITE,
    SWEEP_INTERVAL_SECONDS,
    FaultDb,
    Reporter,
    StackFactory,
)
from tests.support.faultstack import (
    FaultRedis,
    assert_ledger_consistent,
    comment_text,
    submit,
    wait_all_decided,
)
from tests.support.polling import wait_for

SLOW_SECONDS = 3
LOST = "WorkerLostError('Worker exited prematurely"


def running_pids(hook_dir: Path, comment_id: int) -> list[int]:
    """Pool processes that have started the slow check for `comment_id` (oldest first)."""
    marks = sorted(hook_dir.glob(f"running-*-{comment_id}"), key=lambda p: p.stat().st_mtime)
    return [int(p.name.split("-")[1]) for p in marks]


def test_pool_child_killed_mid_task_is_redelivered_and_decided_once(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    hook_dir: Path,
    fault_report: Reporter,
) -> None:
    """C4 (b): SIGKILL the pool child while it runs the task. With acks_late and
    reject_on_worker_lost the message goes back to the queue, the respawned child runs it
    again (counted as an attempt), and the comment is decided exactly once."""
    stack = make_stack(fault_db, redis_volatile)
    attempt = submit(stack.base_url, SITE, "c4", comment_text(f"FAULT-SLOW-{SLOW_SECONDS}"))
    assert attempt.status == 202 and attempt.comment_id is not None
    [child] = wait_for(lambda: running_pids(hook_dir, attempt.comment_id), timeout=30)
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()

    recovery = wait_all_decided(fault_db.engine, [attempt.comment_id], timeout=60)
    stack.wait_for_log(stack.worker, r"WorkerLostError|SIGKILL", timeout=5)
    rerun_by = running_pids(hook_dir, attempt.comment_id)
    assert len(rerun_by) >= 2 and rerun_by[-1] != child, rerun_by
    ledger = assert_ledger_consistent(fault_db.engine, [attempt])
    assert ledger.statuses == {"approved": 1}
    fault_report(
        "kill -9 worker pool child mid-task", "C4", ledger, [attempt], time.monotonic() - killed_at
    )
    assert recovery < 30


def test_main_worker_killed_mid_task_is_swept_and_decided_once(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    hook_dir: Path,
    fault_report: Reporter,
) -> None:
    """C5: SIGKILL the worker's main process mid-task (what a container kill does; its pool
    child goes with it). The message is stuck in Redis's `unacked` hash (visibility timeout
    1 h), so the database outbox sweeper re-sends it; a fresh worker decides it once."""
    stack = make_stack(fault_db, redis_volatile)
    attempts = [
        submit(stack.base_url, SITE, "c5", comment_text(f"FAULT-SLOW-{SLOW_SECONDS}")),
        submit(stack.base_url, SITE, "c5", comment_text()),  # queued behind it (prefetch 1)
    ]
    assert [a.status for a in attempts] == [202, 202]
    first = attempts[0].comment_id
    assert first is not None
    [child] = wait_for(lambda: running_pids(hook_dir, first), timeout=30)
    main = stack.worker.pid
    assert main is not None
    os.kill(main, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)  # a dead container takes its pool with it
    with redis_volatile.client() as client:
        assert client.hlen("unacked") == 1, "the running task's message is not held unacked"
    stack.worker.stop()  # reaps it (and anything left in its process group)
    stack.worker.start()
    restarted_at = time.monotonic()
    stack.wait_for_log(stack.worker, r" ready\.", timeout=60, count=2)

    ids = [a.comment_id for a in attempts if a.comment_id is not None]
    recovery = wait_all_decided(fault_db.engine, ids, timeout=60)
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    fault_report("kill -9 worker main process mid-task", "C5", ledger, attempts, recovery)
    assert "core.sweeper sweep" in stack.worker.log_text()
    assert time.monotonic() - restarted_at < 60


def test_comment_that_kills_every_worker_is_held_after_max_attempts(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    fault_report: Reporter,
) -> None:
    """C4 (b) + C15: a comment whose check SIGKILLs the pool child every time. Each
    redelivery is counted in the database; after MAX_ATTEMPTS the comment is held for a
    human with the reason, the worker is not caught in a loop, and healthy comments
    around it are decided as usual."""
    stack = make_stack(fault_db, redis_volatile)
    started = time.monotonic()
    attempts = [
        submit(stack.base_url, SITE, "c4b", comment_text("FAULT-CRASH")),
        submit(stack.base_url, SITE, "c4b", comment_text()),
        submit(stack.base_url, SITE, "c4b", comment_text()),
    ]
    assert all(a.status == 202 for a in attempts)
    ids = [a.comment_id for a in attempts if a.comment_id is not None]
    wait_all_decided(fault_db.engine, ids, timeout=90)
    took = time.monotonic() - started
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    assert ledger.statuses == {"held": 1, "approved": 2}, ledger.statuses
    with Session(fault_db.engine) as session:
        decision = session.scalars(select(Decision).where(Decision.comment_id == ids[0])).one()
    assert decision.to_status == CommentStatus.HELD.value
    assert decision.decided_by == "system"
    assert "held for a human" in decision.reason
    crashes = stack.worker.log_text().count(LOST)
    # Redeliveries are counted before they run; copies the sweeper re-sent meanwhile are
    # not (the crash comes before any bookkeeping), so allow one uncounted copy per attempt.
    assert MAX_ATTEMPTS < crashes <= 2 * (MAX_ATTEMPTS + 1), f"{crashes} crashes"
    # No hot loop: a few sweeps later nothing has run it again.
    time.sleep(3 * SWEEP_INTERVAL_SECONDS + 1)
    assert stack.worker.log_text().count(LOST) == crashes
    print(f"\nworker crashes before the comment was held: {crashes}")
    fault_report("comment that SIGKILLs every worker", "C4b, C15", ledger, attempts, took)


def _wait_exited(worker: Any, timeout: float) -> None:
    """Until the worker's main process has exited on its own (the signal's job)."""
    wait_for(lambda: not worker.running(), timeout=timeout, what="the worker to exit")


def test_warm_shutdown_finishes_the_running_task(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    hook_dir: Path,
    fault_report: Reporter,
) -> None:
    """C6: SIGTERM mid-task is a warm shutdown: the worker stops taking messages, finishes
    the task it is running, and exits; the comment is decided once, by that run."""
    stack = make_stack(fault_db, redis_volatile)
    attempt = submit(stack.base_url, SITE, "c6", comment_text(f"FAULT-SLOW-{SLOW_SECONDS}"))
    assert attempt.status == 202 and attempt.comment_id is not None
    wait_for(lambda: running_pids(hook_dir, attempt.comment_id), timeout=30)
    main = stack.worker.pid
    assert main is not None
    os.kill(main, signal.SIGTERM)
    signalled = time.monotonic()
    stack.wait_for_log(stack.worker, r"[Ww]arm shutdown", timeout=10)
    _wait_exited(stack.worker, timeout=SLOW_SECONDS + 30)
    wait_all_decided(fault_db.engine, [attempt.comment_id], timeout=5)
    took = time.monotonic() - signalled
    # Finished by the run that was in progress: nobody ran it a second time.
    assert len(running_pids(hook_dir, attempt.comment_id)) == 1
    ledger = assert_ledger_consistent(fault_db.engine, [attempt])
    assert ledger.statuses == {"approved": 1}
    fault_report("SIGTERM (warm shutdown) mid-task", "C6", ledger, [attempt], took)


def test_cold_shutdown_gives_the_task_back_and_a_new_worker_decides_it(
    fault_db: FaultDb,
    redis_volatile: FaultRedis,
    make_stack: StackFactory,
    hook_dir: Path,
    fault_report: Reporter,
) -> None:
    """C7: SIGQUIT mid-task is a cold shutdown; with worker_soft_shutdown_timeout the worker
    first gives the running task time to finish ("soft shutdown"), and a message it could
    not finish is restored to the queue. Either way, after a restart the comment is
    decided exactly once."""
    stack = make_stack(fault_db, redis_volatile)
    attempts = [
        submit(stack.base_url, SITE, "c7", comment_text(f"FAULT-SLOW-{SLOW_SECONDS}")),
        submit(stack.base_url, SITE, "c7", comment_text()),  # waiting in the queue
    ]
    assert [a.status for a in attempts] == [202, 202]
    first = attempts[0].comment_id
    assert first is not None
    wait_for(lambda: running_pids(hook_dir, first), timeout=30)
    main = stack.worker.pid
    assert main is not None
    os.kill(main, signal.SIGQUIT)
    stack.wait_for_log(stack.worker, r"[Ss]oft [Ss]hutdown|[Cc]old shutdown", timeout=10)
    _wait_exited(stack.worker, timeout=SLOW_SECONDS + 30)
    stack.worker.stop()
    stack.worker.start()
    restarted_at = time.monotonic()
    ids = [a.comment_id for a in attempts if a.comment_id is not None]
    recovery = wait_all_decided(fault_db.engine, ids, timeout=60)
    ledger = assert_ledger_consistent(fault_db.engine, attempts)
    assert ledger.statuses == {"approved": 2}
    fault_report("SIGQUIT (cold shutdown) mid-task", "C7", ledger, attempts, recovery)
    assert time.monotonic() - restarted_at < 60
