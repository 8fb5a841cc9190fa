"""IP retention (GDPR Art. 5(1)(e), storage limitation; CJEU C-582/14 *Breyer*).

A comment keeps what it knows about its client address (the HMAC of the full address, used
by flood limits and IP word matches, and the /24 or /48 prefix moderators see and ban by)
for `ip_retention_days` (REPLYGUARD_IP_RETENTION_DAYS, default 30; 0 keeps them). After
that both are set to NULL, in batches. Beat runs this hourly; it is idempotent (a pruned
row no longer matches), so a second run, or a run after an interruption, does only what
is left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models import Comment
from models.base import utcnow

BATCH_SIZE = 1000


def cutoff(days: int, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """Comments submitted before this lose their IP data (None: retention is off)."""
    if days <= 0:
        return None
    return (now or utcnow()) - dt.timedelta(days=days)


def prune_batch(session: Session, before: dt.datetime, *, limit: int = BATCH_SIZE) -> int:
    """Drop the IP index and prefix of up to `limit` comments submitted before `before`;
    returns how many. The caller commits."""
    ids = list(
        session.scalars(
            select(Comment.id)
            .where(
                Comment.submitted_at < before,
                or_(Comment.ip_index.is_not(None), Comment.ip_truncated.is_not(None)),
            )
            .order_by(Comment.id)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            update(Comment)
            .where(Comment.id.in_(ids))
            .values(ip_index=None, ip_truncated=None)
            .execution_options(synchronize_session=False)
        )
    return len(ids)


def prune_batches(
    session: Session, days: int, *, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE
) -> Iterator[int]:
    """Prune in batches, yielding each batch's count so the caller can commit it."""
    before = cutoff(days, now=now)
    if before is None:
        return
    while True:
        pruned = prune_batch(session, before, limit=batch_size)
        if pruned:
            yield pruned
        if pruned < batch_size:
            return


def prune_ips(
    session: Session, days: int, *, now: dt.datetime | None = None, batch_size: int = BATCH_SIZE
) -> int:
    """Prune everything due in one transaction (the caller commits); returns how many."""
    return sum(prune_batches(session, days, now=now, batch_size=batch_size))
