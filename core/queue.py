"""The moderation queue: one site's comments by status, filtered, keyset-paginated; counts per
status; and everything a moderator needs to decide one comment, including why: each check's
verdict in human words and the comment text cut into highlight segments.

Listing reads `comments (site_id, status, id)` backwards (newest first) or forwards, so a
page costs the same on the first page and the ten-thousandth. Searching by email goes
through the blind index: the plaintext is never scanned.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from core import authors
from core.privacy import EncryptedEmail, PrivacyVault, mask_email
from core.review import site_comment
from models import AuditEntry, AuthorMark, CheckResult, Comment, CommentStatus, Decision, Thread

PAGE_MAX = 100
CHECK_SCAN_WINDOW = 2_000  # comments one `check=` page examines at most (see list_queue)
COUNT_CAP = 10_000  # counts above this show as "10,000+": exact counts of a big table are slow
QUEUE_STATUSES = (
    CommentStatus.HELD,
    CommentStatus.PENDING,
    CommentStatus.SPAM,
    CommentStatus.REJECTED,
    CommentStatus.APPROVED,
    CommentStatus.DELETED,
)


@dataclass(frozen=True)
class QueueFilter:
    """What to list. `email_index` is the blind index of an exact email searched for."""

    status: CommentStatus = CommentStatus.HELD
    oldest_first: bool = False
    thread: str | None = None
    check: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    author: str | None = None
    email_index: bytes | None = None


# What moderators read for each check's name (core.checks.pipeline.check_names()); a
# check missing here shows its name with the underscores as spaces. The word-list checks
# are not called "Disallowed words" / "Moderation words": those label the lists' own
# fields on the settings page, which also lists every check (shadow mode).
CHECK_LABELS = {
    "author_banned": "Banned author",
    "form_signals": "Form signals",
    "disallowed_words": "Disallowed word list",
    "moderation_words": "Moderation word list",
    "links": "Link reputation",
    "contacts": "Contact handles",
    "max_links": "Too many links",
    "flood": "Flood",
    "duplicates": "Near-duplicates",
    "spam_classifier": "Spam classifier",
    "toxicity": "Toxicity",
    "personal_data": "Personal data",
    "author_trust": "Author trust",
    "premoderation": "Pre-moderation",
}


def check_label(name: str) -> str:
    """A check's name in human words (`spam_classifier` → "Spam classifier")."""
    return CHECK_LABELS.get(name) or name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CheckView:
    """One check's verdict as a moderator reads it. `shadow`: the check ran in shadow mode,
    so its verdict was recorded and never acted on."""

    name: str
    action: str | None
    score: float
    reason: str
    spans: list[list[int]] = field(default_factory=list)
    shadow: bool = False
    position: int = 0

    @property
    def label(self) -> str:
        return check_label(self.name)

    def marked_text(self, body: str) -> list[str]:
        """The distinct passages of `body` this check flagged, in order of appearance."""
        found = (_span_bounds(span, len(body)) for span in self.spans)
        ordered = sorted(bounds for bounds in found if bounds is not None)
        return list(dict.fromkeys(body[start:end] for start, end in ordered))

    @property
    def objected(self) -> bool:
        """The check asked to hold, reject or spam (acted on, or only recorded in shadow
        mode). An approving verdict (author trust) is an opinion, not an objection."""
        return self.action is not None and self.action != "approve"


_SEVERITY = {"approve": 0, "hold": 1, "reject": 2, "spam": 3}


def explained_order(checks: Iterable[CheckView]) -> list[CheckView]:
    """Checks as a moderator should read them: the objections acted on, most severe first;
    the shadow-mode objections; the approving verdicts; then the checks without an opinion.
    Ties keep the pipeline's order."""

    def rank(check: CheckView) -> tuple[int, int, int]:
        if check.action is None:
            return (3, 0, check.position)
        if not check.objected:
            return (2, int(check.shadow), check.position)
        return (int(check.shadow), -_SEVERITY.get(check.action, 0), check.position)

    return sorted(checks, key=rank)


@dataclass(frozen=True)
class DecisionView:
    id: int
    decided_by: str
    from_status: str
    to_status: str
    reason: str
    created_at: dt.datetime
    checks: list[CheckView]  # in pipeline order

    @property
    def explained(self) -> list[CheckView]:
        """The checks with objections first (see explained_order)."""
        return explained_order(self.checks)

    @property
    def opinions(self) -> list[CheckView]:
        """The checks that had an opinion, objections first."""
        return [c for c in self.explained if c.action is not None]

    @property
    def no_opinion(self) -> list[CheckView]:
        return [c for c in self.checks if c.action is None]


@dataclass(frozen=True)
class Segment:
    """A run of the comment text: plain (`checks` empty) or flagged by these checks (their
    names, in pipeline order). `shadow`: only shadow-mode checks flagged it. The text is
    raw: templates and clients escape it like any other text."""

    text: str
    checks: tuple[str, ...] = ()
    shadow: bool = False

    @property
    def marked(self) -> bool:
        return bool(self.checks)

    @property
    def labels(self) -> str:
        return ", ".join(check_label(name) for name in self.checks)


def _span_bounds(span: Any, length: int) -> tuple[int, int] | None:
    """A stored [start, end) span clamped to the text, or None if it is empty or malformed."""
    if not isinstance(span, Sequence) or isinstance(span, str) or len(span) != 2:
        return None
    try:
        start, end = max(0, int(span[0])), min(length, int(span[1]))
    except (TypeError, ValueError):
        return None
    return (start, end) if start < end else None


def highlight_segments(body: str, checks: Iterable[CheckView]) -> list[Segment]:
    """The body cut into segments at the spans of the checks that objected.

    Spans are character offsets into the original body. Overlapping or touching spans are
    merged into one marked segment that names every check behind it; a segment is `shadow`
    only when no acted-on check flagged any of it. Joining the segments' text gives the
    body back unchanged."""
    flagged: list[tuple[int, int, CheckView]] = []
    for check in checks:
        if check.action is None:
            continue
        for span in check.spans:
            bounds = _span_bounds(span, len(body))
            if bounds is not None:
                flagged.append((*bounds, check))
    flagged.sort(key=lambda item: (item[0], item[1]))
    merged: list[tuple[int, int, list[CheckView]]] = []
    for start, end, check in flagged:
        if merged and start <= merged[-1][1]:
            last_start, last_end, behind = merged[-1]
            merged[-1] = (last_start, max(last_end, end), [*behind, check])
        else:
            merged.append((start, end, [check]))
    segments: list[Segment] = []
    position = 0
    for start, end, behind in merged:
        if start > position:
            segments.append(Segment(body[position:start]))
        ordered = sorted({c.name: c.position for c in behind}.items(), key=lambda kv: kv[1])
        segments.append(
            Segment(
                body[start:end],
                tuple(name for name, _ in ordered),
                shadow=all(c.shadow for c in behind),
            )
        )
        position = end
    if position < len(body) or not segments:
        segments.append(Segment(body[position:]))
    return segments


@dataclass(frozen=True)
class QueueItem:
    """A comment in the list, with why it is where it is (its latest decision)."""

    comment: Comment
    masked_email: str
    author_key: str
    latest: DecisionView | None


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: int | None


def _filtered(site_id: int, flt: QueueFilter) -> Any:
    query = select(Comment).where(Comment.site_id == site_id, Comment.status == flt.status)
    if flt.thread:
        thread_ids = select(Thread.id).where(Thread.site_id == site_id, Thread.key == flt.thread)
        query = query.where(Comment.thread_id.in_(thread_ids))
    if flt.since is not None:
        query = query.where(Comment.submitted_at >= flt.since)
    if flt.until is not None:
        query = query.where(Comment.submitted_at < flt.until)
    if flt.email_index is not None:
        query = query.where(Comment.email_index == flt.email_index)
    if flt.author:
        pattern = "%" + flt.author.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        query = query.where(Comment.author_name.ilike(pattern + "%", escape="\\"))
    if flt.check:
        objected = (
            select(CheckResult.id)
            .join(Decision, Decision.id == CheckResult.decision_id)
            .where(
                Decision.comment_id == Comment.id,
                CheckResult.check_name == flt.check,
                CheckResult.action.is_not(None),
            )
        )
        query = query.where(exists(objected))
    return query


def decisions_for(session: Session, comment_ids: list[int]) -> dict[int, list[DecisionView]]:
    """Every decision (oldest first) with its checks, for these comments, in two queries."""
    if not comment_ids:
        return {}
    decisions = list(
        session.scalars(
            select(Decision).where(Decision.comment_id.in_(comment_ids)).order_by(Decision.id)
        )
    )
    checks: dict[int, list[CheckView]] = defaultdict(list)
    if decisions:
        rows = session.scalars(
            select(CheckResult)
            .where(CheckResult.decision_id.in_([d.id for d in decisions]))
            .order_by(CheckResult.decision_id, CheckResult.position)
        )
        for row in rows:
            checks[row.decision_id].append(
                CheckView(
                    row.check_name,
                    row.action,
                    row.score,
                    row.reason,
                    row.spans or [],
                    shadow=bool(row.shadow),
                    position=row.position,
                )
            )
    out: dict[int, list[DecisionView]] = defaultdict(list)
    for d in decisions:
        out[d.comment_id].append(
            DecisionView(
                d.id,
                d.decided_by,
                d.from_status,
                d.to_status,
                d.reason,
                d.created_at,
                checks[d.id],
            )
        )
    return out


def masked_email(comment: Comment, vault: PrivacyVault) -> str:
    """`c…@example.org`: enough to tell authors apart, not enough to write to them."""
    return mask_email(
        vault.decrypt_email(
            EncryptedEmail(comment.email_ciphertext, comment.email_key_id, comment.email_index)
        )
    )


def _in_order(query: Any, flt: QueueFilter, cursor: int | None) -> Any:
    """The query in the filter's order, after the cursor (keyset pagination on id)."""
    if flt.oldest_first:
        if cursor is not None:
            query = query.where(Comment.id > cursor)
        return query.order_by(Comment.id)
    if cursor is not None:
        query = query.where(Comment.id < cursor)
    return query.order_by(Comment.id.desc())


def list_queue(
    session: Session,
    site_id: int,
    flt: QueueFilter,
    *,
    vault: PrivacyVault,
    cursor: int | None = None,
    limit: int = 50,
) -> QueuePage:
    """One page of the queue; `cursor` is the last id of the previous page. A page holds at
    most `limit` items; filtered by check it may hold fewer (even none) and still have a
    next cursor: follow it until it is None."""
    limit = max(1, min(limit, PAGE_MAX))
    query = _in_order(_filtered(site_id, flt), flt, cursor)
    window_end: int | None = None
    if flt.check:
        # Which check objected is known only through the decisions, so no index leads
        # straight to matching comments: a page examines at most CHECK_SCAN_WINDOW comments
        # of the status (the next ones in order) and may come back short, with a cursor
        # to continue from, instead of walking the whole status when matches are rare.
        unfiltered = _in_order(
            select(Comment.id).where(Comment.site_id == site_id, Comment.status == flt.status),
            flt,
            cursor,
        )
        window = unfiltered.limit(CHECK_SCAN_WINDOW)
        query = query.where(Comment.id.in_(window.scalar_subquery()))
        window_end = session.scalar(unfiltered.offset(CHECK_SCAN_WINDOW - 1).limit(1))
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = rows[-1].id if more and rows else None
    if not more and window_end is not None:
        next_cursor = window_end  # the window was full: later comments are unexamined
    history = decisions_for(session, [c.id for c in rows])
    items = [
        QueueItem(
            comment=c,
            masked_email=masked_email(c, vault),
            author_key=authors.author_key(c.email_index),
            latest=history[c.id][-1] if history.get(c.id) else None,
        )
        for c in rows
    ]
    return QueuePage(items, next_cursor)


def status_counts(session: Session, site_id: int) -> dict[str, tuple[int, bool]]:
    """Per status: the count, and True when it reached COUNT_CAP (shown as "10,000+")."""
    counts: dict[str, tuple[int, bool]] = {}
    for status in QUEUE_STATUSES:
        capped = (
            select(Comment.id)
            .where(Comment.site_id == site_id, Comment.status == status)
            .limit(COUNT_CAP)
            .subquery()
        )
        n = int(session.scalar(select(func.count()).select_from(capped)) or 0)
        counts[status.value] = (n, n >= COUNT_CAP)
    return counts


@dataclass(frozen=True)
class CommentDetail:
    """Everything about one comment a moderator may see (never the plain email)."""

    comment: Comment
    masked_email: str
    author_key: str
    decisions: list[DecisionView]
    parent: Comment | None
    replies: list[Comment]
    author_history: dict[str, int]
    marks: list[AuthorMark]
    audit: list[AuditEntry]
    # The body cut at the spans of every check that objected, in any of the decisions.
    segments: list[Segment] = field(default_factory=list)


def comment_detail(
    session: Session, site_id: int, comment_id: int, *, vault: PrivacyVault
) -> CommentDetail:
    """One comment with its checks, highlighted text, thread context, author history and
    audit trail."""
    comment = site_comment(session, site_id, comment_id)
    parent = session.get(Comment, comment.parent_id) if comment.parent_id else None
    replies = list(
        session.scalars(
            select(Comment).where(Comment.parent_id == comment.id).order_by(Comment.id).limit(20)
        )
    )
    trail = list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.comment_id == comment.id)
            .order_by(AuditEntry.id.desc())
            .limit(50)
        )
    )
    decisions = decisions_for(session, [comment.id]).get(comment.id, [])
    return CommentDetail(
        comment=comment,
        masked_email=masked_email(comment, vault),
        author_key=authors.author_key(comment.email_index),
        decisions=decisions,
        parent=parent,
        replies=replies,
        author_history=authors.history(session, site_id, comment.email_index),
        marks=authors.marks_for(session, site_id, comment.email_index, comment.ip_truncated),
        audit=trail,
        segments=highlight_segments(comment.body, [c for d in decisions for c in d.checks]),
    )


def author_comments(
    session: Session, site_id: int, email_index: bytes, *, limit: int = 50
) -> list[Comment]:
    """The author's latest comments on the site, any status, newest first."""
    return list(
        session.scalars(
            select(Comment)
            .where(Comment.site_id == site_id, Comment.email_index == email_index)
            .order_by(Comment.id.desc())
            .limit(limit)
        )
    )
