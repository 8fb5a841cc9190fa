"""The transactional outbox, without any queue library.

`enqueue` writes an OutboxEntry in the caller's transaction and remembers the task for
after the commit; an adapter installs a publisher with `install_publisher`, which sends
those tasks only once the transaction has committed (and forgets them on rollback).
If the send fails, or the message is lost later, the entry is still in the database and
`due_for_redispatch` hands it to the sweeper once it is stale. `publish_after_commit` sends
after commit without an outbox row, for work whose own row is its outbox (a webhook
delivery, re-sent by the webhook poller).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session, sessionmaker

from models import OutboxEntry
from models.base import utcnow

log = logging.getLogger(__name__)

Publisher = Callable[[str, int], None]
_PENDING_KEY = "replyguard_outbox"


def enqueue(session: Session, task_name: str, ref_id: int, *, stale_after: dt.timedelta) -> None:
    """Record a task for `ref_id` in this transaction; it is sent after commit."""
    session.add(
        OutboxEntry(task_name=task_name, ref_id=ref_id, next_dispatch_at=utcnow() + stale_after)
    )
    publish_after_commit(session, task_name, ref_id)


def publish_after_commit(session: Session, task_name: str, ref_id: int) -> None:
    """Send a task once this transaction commits, without an outbox row: for work whose own
    row already says it is due (a webhook delivery's `next_attempt_at`), where a poller of
    that row re-sends whatever a lost message dropped."""
    session.info.setdefault(_PENDING_KEY, []).append((task_name, ref_id))


def complete(session: Session, task_name: str, ref_id: int) -> None:
    """The task's work is committed with this transaction: drop its outbox entry."""
    session.execute(
        delete(OutboxEntry).where(OutboxEntry.task_name == task_name, OutboxEntry.ref_id == ref_id)
    )


def record_attempt(session: Session, task_name: str, ref_id: int) -> int | None:
    """Count one more started run of this task; returns the new count, or None when the
    entry is gone (its work is already done). The caller commits before doing the work."""
    entry = session.scalar(
        select(OutboxEntry)
        .where(OutboxEntry.task_name == task_name, OutboxEntry.ref_id == ref_id)
        .with_for_update()
    )
    if entry is None:
        return None
    entry.attempts += 1
    return entry.attempts


def install_publisher(target: sessionmaker[Session] | Session, publish: Publisher) -> None:
    """Send enqueued tasks after each commit of `target` (a factory or one session);
    forget them on rollback; never raise into the caller."""

    def after_commit(session: Session) -> None:
        for task_name, ref_id in session.info.pop(_PENDING_KEY, []):
            try:
                publish(task_name, ref_id)
            except Exception as exc:  # the sweeper re-sends; the commit already happened
                log.warning(
                    "publish failed, the sweeper will re-send",
                    extra={"task": task_name, "ref_id": ref_id, "error": type(exc).__name__},
                )

    def after_rollback(session: Session) -> None:
        session.info.pop(_PENDING_KEY, None)

    event.listen(target, "after_commit", after_commit)
    event.listen(target, "after_soft_rollback", lambda s, _t: after_rollback(s))


REDISPATCH_BACKOFF = (1, 2, 4)


def due_for_redispatch(
    session: Session, *, now: dt.datetime, stale_after: dt.timedelta, limit: int = 500
) -> Sequence[OutboxEntry]:
    """Claim stale entries (SKIP LOCKED on PostgreSQL) and push their next dispatch time out.

    The caller commits, then sends each returned entry. Entries are returned with their
    updated dispatch count so the caller can give up on the ones that keep failing.
    """
    rows = session.scalars(
        select(OutboxEntry)
        .where(OutboxEntry.next_dispatch_at <= now)
        .order_by(OutboxEntry.next_dispatch_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.dispatches += 1
        # Each re-send waits longer (1, 2, then 4 times stale_after): when the queue is merely
        # long, re-sending every pending comment each period would add runs exactly when
        # workers are short (measured by bench/soak.py); the cap bounds recovery after a
        # lost message to 4 times stale_after.
        row.next_dispatch_at = (
            now + stale_after * REDISPATCH_BACKOFF[min(row.dispatches, len(REDISPATCH_BACKOFF)) - 1]
        )
    session.flush()
    return rows
