"""The sweeper: Redis is not the system of record, the outbox is.

Beat runs `sweep` every `sweep_interval_seconds`. It re-sends every outbox entry whose
task has not finished within `stale_after_seconds` (a lost message, a dead worker, Redis
down at submit time). An entry that has been sent `max_dispatches` times without a
decision is a poison comment: it is held for a human with that reason instead of being
retried forever.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core import moderation, outbox, tasknames
from core.config import Settings
from models.base import utcnow

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """Tasks to send once the sweep's transaction has committed, and what was given up."""

    to_send: list[tuple[str, int]] = field(default_factory=list)
    held: list[int] = field(default_factory=list)


def sweep(session: Session, settings: Settings, *, now: dt.datetime | None = None) -> SweepResult:
    """Claim stale outbox entries. The caller commits, then sends `to_send`."""
    result = SweepResult()
    entries = outbox.due_for_redispatch(
        session,
        now=now or utcnow(),
        stale_after=dt.timedelta(seconds=settings.stale_after_seconds),
    )
    for entry in entries:
        if entry.task_name == tasknames.MODERATE and entry.dispatches > settings.max_dispatches:
            reason = (
                f"not decided after {entry.dispatches - 1} dispatches: held for a human "
                "(a check or the worker keeps failing on it)"
            )
            moderation.hold_for_human(session, entry.ref_id, reason)
            result.held.append(entry.ref_id)
            continue
        result.to_send.append((entry.task_name, entry.ref_id))
    if entries:
        log.info("sweep", extra={"resent": len(result.to_send), "held": len(result.held)})
    return result
