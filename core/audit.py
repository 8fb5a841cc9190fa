"""The audit log of human actions: write one row per action, read a site's log newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access import Principal
from models import AuditEntry


def record(
    session: Session,
    principal: Principal,
    action: str,
    *,
    site_id: int | None,
    comment_id: int | None = None,
    before: str | None = None,
    after: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit row in the caller's transaction (so it commits with the action)."""
    entry = AuditEntry(
        site_id=site_id,
        actor=principal.actor,
        actor_name=principal.name[:100],
        action=action,
        comment_id=comment_id,
        before=before,
        after=after,
        detail=detail or {},
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None


def entries(
    session: Session,
    site_id: int,
    *,
    before: int | None = None,
    comment_id: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """A site's audit rows, newest first, keyset-paginated by id (`before`)."""
    query = select(AuditEntry).where(AuditEntry.site_id == site_id)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if comment_id is not None:
        query = query.where(AuditEntry.comment_id == comment_id)
    rows = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more and rows else None)
