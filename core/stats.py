"""Numbers for the moderators' stats page: decisions per day, queue size and age, the checks
that objected most, and the spam rate, over a window of days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.orm import Session

from models import CheckResult, Comment, CommentStatus, Decision
from models.base import utcnow

DECIDED = (
    CommentStatus.APPROVED,
    CommentStatus.HELD,
    CommentStatus.REJECTED,
    CommentStatus.SPAM,
    CommentStatus.DELETED,
)


@dataclass(frozen=True)
class QueueAge:
    status: str
    size: int
    oldest: dt.datetime | None


@dataclass(frozen=True)
class SiteStats:
    days: list[dt.date]
    # status -> one count per day in `days` (comments submitted that day, by current status)
    per_day: dict[str, list[int]]
    queues: list[QueueAge]
    top_reasons: list[tuple[str, int]]
    spam_rate: float | None
    decided_total: int


def _day(session: Session) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(Comment.submitted_at)
    return cast(Comment.submitted_at, Date)


def site_stats(session: Session, site_id: int, *, days: int = 30) -> SiteStats:
    """The stats for the last `days` days (UTC), today included."""
    days = max(1, min(days, 366))
    today = utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    day = _day(session)
    rows = session.execute(
        select(day, Comment.status, func.count())
        .where(Comment.site_id == site_id, Comment.submitted_at >= since)
        .group_by(day, Comment.status)
    )
    calendar = [first + dt.timedelta(days=i) for i in range(days)]
    position = {d: i for i, d in enumerate(calendar)}
    per_day: dict[str, list[int]] = {s.value: [0] * days for s in CommentStatus}
    for raw_day, status, count in rows:
        when = raw_day if isinstance(raw_day, dt.date) else dt.date.fromisoformat(str(raw_day))
        if when in position:
            per_day[CommentStatus(status).value][position[when]] += int(count)

    queues = []
    for status in (CommentStatus.HELD, CommentStatus.PENDING):
        size, oldest = session.execute(
            select(func.count(), func.min(Comment.submitted_at)).where(
                Comment.site_id == site_id, Comment.status == status
            )
        ).one()
        queues.append(QueueAge(status.value, int(size), oldest))

    reasons = session.execute(
        select(CheckResult.check_name, func.count())
        .join(Decision, Decision.id == CheckResult.decision_id)
        .join(Comment, Comment.id == Decision.comment_id)
        .where(
            Comment.site_id == site_id,
            Decision.created_at >= since,
            CheckResult.action.is_not(None),
        )
        .group_by(CheckResult.check_name)
        .order_by(func.count().desc())
        .limit(10)
    )
    top = [(name, int(count)) for name, count in reasons]

    decided = sum(sum(per_day[s.value]) for s in DECIDED)
    spam = sum(per_day[CommentStatus.SPAM.value])
    return SiteStats(
        days=calendar,
        per_day=per_day,
        queues=queues,
        top_reasons=top,
        spam_rate=(spam / decided) if decided else None,
        decided_total=decided,
    )
