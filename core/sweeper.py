"""The sweeper: Redis is not the system of record, the outbox is.

Beat runs `sweep` every `sweep_interval_seconds`. It re-sends every outbox entry whose
task has not finished within `stale_after_seconds` (a lost message, a dead worker, Redis
down at submit time) and pushes its next re-send one more stale period out. It never
decides anything itself: a comment that keeps failing is held by the task's own attempt
count (core.moderation.begin_attempt), so a long queue backlog never holds healthy comments.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from core import outbox
from core.config import Settings
from models.base import utcnow

log = logging.getLogger(__name__)


def sweep(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[tuple[str, int]]:
    """Claim stale outbox entries; the caller commits, then sends the returned tasks."""
    entries = outbox.due_for_redispatch(
        session,
        now=now or utcnow(),
        stale_after=dt.timedelta(seconds=settings.stale_after_seconds),
    )
    if entries:
        log.info("sweep", extra={"resent": len(entries)})
    return [(entry.task_name, entry.ref_id) for entry in entries]
