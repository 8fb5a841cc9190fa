"""Earlier comments, as the history checks (flood, near-duplicates, author trust) see them.

Contract:

- `HistoryView` is what `CheckContext.history` holds: three read-only questions about a
  site's earlier comments. Every time window is closed, `since <= submitted_at <= until`,
  and `until` is the submission time of the comment being decided, so a worker that runs
  late (or a replay) sees what was there when the comment arrived, not what came after.
- `DatabaseHistory(session, exclude_id=...)` answers from the comments table (the worker,
  the Akismet-compatible oracle); it never counts the comment being decided itself. Every
  query is bounded: an index range over a time window (see models.comment's indexes), and
  a LIMIT wherever rows come back. It never writes.
- `MemoryHistory()` answers the same questions from what it was told with
  `remember(facts, action)` after each decision (the backtest): sorted per-key lists and
  dicts, O(log n) per count and O(bands x limit) per duplicate lookup. Fed the same
  comments in the same order with the same outcomes, both views give the same answers.
- Near-duplicates are other authors' comments (a different email blind index) with the
  same exact body hash, or a SimHash (core.text.fingerprint) within `MAX_DISTANCE` bits;
  deleted comments are left out. An author's record counts the statuses of their newest
  `AUTHOR_WINDOW` comments on the site.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import ColumnElement, func, literal_column, select, union_all
from sqlalchemy.orm import Session

from core.checks.base import Action, CommentFacts
from core.comments import body_digest
from core.text.fingerprint import bands, hamming, simhash, word_count
from models import Comment, CommentStatus

# Pigeonhole over four 16-bit bands finds every fingerprint within 3 bits, no further.
MAX_DISTANCE = 3
# An author's record is read from their newest comments on the site, no more.
AUTHOR_WINDOW = 500

STATUS_FOR_ACTION = {
    Action.APPROVE: CommentStatus.APPROVED.value,
    Action.HOLD: CommentStatus.HELD.value,
    Action.REJECT: CommentStatus.REJECTED.value,
    Action.SPAM: CommentStatus.SPAM.value,
}
_BAND_COLUMNS = (Comment.simhash_b0, Comment.simhash_b1, Comment.simhash_b2, Comment.simhash_b3)


@dataclass(frozen=True)
class Counts:
    """Earlier comments in a window: on the whole site, from one IP, from one email.
    None where the question was not asked. Counts stop at the `cap` asked for."""

    site: int | None = None
    ip: int | None = None
    email: int | None = None


@dataclass(frozen=True)
class Match:
    """An earlier comment by another author with the same or nearly the same text."""

    comment_id: int
    email_index: bytes | None
    status: str  # a CommentStatus value
    submitted_at: dt.datetime
    distance: int  # fingerprint bits that differ; 0 for the same text
    same_body: bool  # the exact same body (hash), not only the same fingerprint


@dataclass(frozen=True)
class AuthorRecord:
    """How an author's earlier comments on the site were decided (pending ones not counted)."""

    approved: int = 0
    held: int = 0
    rejected: int = 0
    spam: int = 0

    @property
    def bad(self) -> int:
        return self.rejected + self.spam


@dataclass(frozen=True)
class Signature:
    """What duplicate lookups compare: the SimHash (None for short texts), the exact body
    hash (as stored in comments.body_hash) and the number of words."""

    fingerprint: int | None
    body_hash: bytes
    words: int


_last_signature: tuple[CommentFacts, Signature] | None = None


def signature_of(facts: CommentFacts) -> Signature:
    """The comment's signature, computed once per CommentFacts (the checks and
    MemoryHistory.remember ask for the same comment in a row)."""
    global _last_signature
    cached = _last_signature
    if cached is not None and cached[0] is facts:
        return cached[1]
    text = facts.text.text
    made = Signature(simhash(text), body_digest(facts.body), word_count(text))
    _last_signature = (facts, made)
    return made


class HistoryView(Protocol):
    """What history checks may ask about a site's earlier comments."""

    def count_since(
        self,
        *,
        site_id: int,
        since: dt.datetime,
        until: dt.datetime,
        whole_site: bool = False,
        ip_index: bytes | None = None,
        email_index: bytes | None = None,
        cap: int = 1000,
    ) -> Counts:
        """Comments submitted in [since, until] on the site (if whole_site), from this IP
        index and from this email index, each counted up to `cap`."""
        ...

    def near_duplicates(
        self,
        *,
        site_id: int,
        fingerprint: int | None,
        body_hash: bytes,
        exclude_email_index: bytes | None,
        since: dt.datetime,
        until: dt.datetime,
        limit: int = 50,
    ) -> list[Match]:
        """Other authors' comments in [since, until] with the same body hash or a
        fingerprint within MAX_DISTANCE, newest first, at most `limit`."""
        ...

    def author_record(self, site_id: int, email_index: bytes) -> AuthorRecord:
        """Statuses of the author's newest AUTHOR_WINDOW comments on the site."""
        ...


def _newest_first(matches: dict[int, Match], limit: int) -> list[Match]:
    ordered = sorted(matches.values(), key=lambda m: (m.submitted_at, m.comment_id), reverse=True)
    return ordered[:limit]


def _match(
    comment_id: int,
    email_index: bytes | None,
    status: str,
    submitted_at: dt.datetime,
    their_fingerprint: int | None,
    their_body_hash: bytes,
    fingerprint: int | None,
    body_hash: bytes,
) -> Match | None:
    if their_body_hash == body_hash:
        return Match(comment_id, email_index, status, submitted_at, 0, True)
    if fingerprint is None or their_fingerprint is None:
        return None
    distance = hamming(fingerprint, their_fingerprint)
    if distance > MAX_DISTANCE:
        return None
    return Match(comment_id, email_index, status, submitted_at, distance, False)


def _site_filter(site_id: int) -> ColumnElement[bool]:
    """`site_id = ?` as a filter only: `site_id + 0` cannot use an index, so SQLite's
    planner (which has no statistics unless ANALYZE ran) does not walk the whole site's
    (site_id, submitted_at) range instead of one author's or one address's few rows."""
    return (Comment.site_id + 0) == site_id


class DatabaseHistory:
    """HistoryView over the comments table, for deciding comment `exclude_id`."""

    def __init__(self, session: Session, *, exclude_id: int | None = None) -> None:
        self.session = session
        self.exclude_id = exclude_id
        self._records: dict[tuple[int, bytes], AuthorRecord] = {}

    def _not_self(self) -> list[ColumnElement[bool]]:
        return [] if self.exclude_id is None else [Comment.id != self.exclude_id]

    def _capped_count(self, conditions: list[ColumnElement[bool]], cap: int) -> Any:
        inner = (
            select(literal_column("1"))
            .select_from(Comment)
            .where(*conditions, *self._not_self())
            .limit(cap)
            .subquery()
        )
        return select(func.count()).select_from(inner).scalar_subquery()

    def count_since(
        self,
        *,
        site_id: int,
        since: dt.datetime,
        until: dt.datetime,
        whole_site: bool = False,
        ip_index: bytes | None = None,
        email_index: bytes | None = None,
        cap: int = 1000,
    ) -> Counts:
        window = [Comment.submitted_at >= since, Comment.submitted_at <= until]
        asked: list[tuple[str, list[ColumnElement[bool]]]] = []
        if whole_site:  # ix_comments_site_submitted
            asked.append(("site", [Comment.site_id == site_id]))
        if ip_index is not None:  # ix_comments_ip_index_submitted
            asked.append(("ip", [Comment.ip_index == ip_index, _site_filter(site_id)]))
        if email_index is not None:  # ix_comments_email_index_submitted
            asked.append(("email", [Comment.email_index == email_index, _site_filter(site_id)]))
        if not asked:
            return Counts()
        row = self.session.execute(  # one round trip for all of them
            select(*(self._capped_count([*window, *extra], cap) for _, extra in asked))
        ).one()
        return Counts(**{name: int(value) for (name, _), value in zip(asked, row, strict=True)})

    def near_duplicates(
        self,
        *,
        site_id: int,
        fingerprint: int | None,
        body_hash: bytes,
        exclude_email_index: bytes | None,
        since: dt.datetime,
        until: dt.datetime,
        limit: int = 50,
    ) -> list[Match]:
        common: list[ColumnElement[bool]] = [
            Comment.site_id == site_id,
            Comment.submitted_at >= since,
            Comment.submitted_at <= until,
            Comment.status != CommentStatus.DELETED,
            *self._not_self(),
        ]
        if exclude_email_index is not None:
            common.append(Comment.email_index != exclude_email_index)
        lookups: list[ColumnElement[bool]] = [Comment.body_hash == body_hash]
        if fingerprint is not None:
            band_values = bands(fingerprint)
            lookups += [col == v for col, v in zip(_BAND_COLUMNS, band_values, strict=True)]
        # One indexed range per lookup (site_id, key, submitted_at), newest first, each
        # limited; then the Hamming distance in Python on at most 5 x limit rows.
        parts = [
            select(
                Comment.id,
                Comment.email_index,
                Comment.status,
                Comment.submitted_at,
                Comment.simhash,
                Comment.body_hash,
            )
            .where(*common, lookup)
            .order_by(Comment.submitted_at.desc(), Comment.id.desc())
            .limit(limit)
            .subquery()
            for lookup in lookups
        ]
        query = union_all(*(select(part) for part in parts))
        found: dict[int, Match] = {}
        for row in self.session.execute(query):
            status = row.status.value if isinstance(row.status, CommentStatus) else row.status
            match = _match(
                row.id,
                row.email_index,
                str(status),
                row.submitted_at,
                row.simhash,
                row.body_hash,
                fingerprint,
                body_hash,
            )
            if match is not None:
                found[match.comment_id] = match
        return _newest_first(found, limit)

    def author_record(self, site_id: int, email_index: bytes) -> AuthorRecord:
        key = (site_id, email_index)
        if key not in self._records:  # flood and author trust may both ask
            newest = (
                select(Comment.status)
                .where(
                    Comment.email_index == email_index,  # ix_comments_email_index_submitted
                    _site_filter(site_id),
                    *self._not_self(),
                )
                .order_by(Comment.submitted_at.desc())
                .limit(AUTHOR_WINDOW)
                .subquery()
            )
            rows = self.session.execute(
                select(newest.c.status, func.count()).group_by(newest.c.status)
            ).all()
            counts = {
                (status.value if isinstance(status, CommentStatus) else str(status)): int(n)
                for status, n in rows
            }
            self._records[key] = _record(counts)
        return self._records[key]


def _record(counts: dict[str, int]) -> AuthorRecord:
    return AuthorRecord(
        approved=counts.get(CommentStatus.APPROVED.value, 0),
        held=counts.get(CommentStatus.HELD.value, 0),
        rejected=counts.get(CommentStatus.REJECTED.value, 0),
        spam=counts.get(CommentStatus.SPAM.value, 0),
    )


@dataclass(frozen=True, slots=True)
class _Entry:
    comment_id: int
    email_index: bytes | None
    status: str
    submitted_at: dt.datetime
    fingerprint: int | None
    body_hash: bytes

    @property
    def order(self) -> tuple[dt.datetime, int]:
        return (self.submitted_at, self.comment_id)


@dataclass
class _Author:
    statuses: deque[str] = field(default_factory=lambda: deque(maxlen=AUTHOR_WINDOW))
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, status: str) -> None:
        if len(self.statuses) == self.statuses.maxlen:
            dropped = self.statuses[0]
            self.counts[dropped] -= 1
        self.statuses.append(status)
        self.counts[status] = self.counts.get(status, 0) + 1


class MemoryHistory:
    """HistoryView over the comments it was told about, in memory (the backtest).

    Memory grows with the comments remembered (a few hundred bytes each); lookups do not."""

    def __init__(self) -> None:
        self._times: dict[tuple[Any, ...], list[dt.datetime]] = {}
        self._by_key: dict[tuple[Any, ...], list[_Entry]] = {}
        self._authors: dict[tuple[int, bytes], _Author] = {}
        self._serial = 0

    def remember(self, facts: CommentFacts, action: Action | str) -> None:
        """Record a decided comment (site_id and submitted_at required)."""
        if facts.site_id is None or facts.submitted_at is None:
            raise ValueError("MemoryHistory needs the comment's site_id and submitted_at")
        status = STATUS_FOR_ACTION[Action(action)]
        self._serial += 1
        comment_id = facts.comment_id if facts.comment_id is not None else self._serial
        site = facts.site_id
        at = facts.submitted_at
        signature = signature_of(facts)
        entry = _Entry(
            comment_id, facts.email_index, status, at, signature.fingerprint, signature.body_hash
        )
        keys: list[tuple[Any, ...]] = [("site", site)]
        if facts.ip_index is not None:
            keys.append(("ip", site, facts.ip_index))
        if facts.email_index is not None:
            keys.append(("email", site, facts.email_index))
        for key in keys:
            bisect.insort(self._times.setdefault(key, []), at)
        lookup_keys: list[tuple[Any, ...]] = [("body", site, signature.body_hash)]
        if signature.fingerprint is not None:
            lookup_keys += [
                ("band", site, k, band) for k, band in enumerate(bands(signature.fingerprint))
            ]
        for key in lookup_keys:
            bisect.insort(self._by_key.setdefault(key, []), entry, key=lambda e: e.order)
        if facts.email_index is not None:
            self._authors.setdefault((site, facts.email_index), _Author()).add(status)

    def _count(self, key: tuple[Any, ...], since: dt.datetime, until: dt.datetime, cap: int) -> int:
        times = self._times.get(key, [])
        return min(cap, bisect.bisect_right(times, until) - bisect.bisect_left(times, since))

    def count_since(
        self,
        *,
        site_id: int,
        since: dt.datetime,
        until: dt.datetime,
        whole_site: bool = False,
        ip_index: bytes | None = None,
        email_index: bytes | None = None,
        cap: int = 1000,
    ) -> Counts:
        return Counts(
            site=self._count(("site", site_id), since, until, cap) if whole_site else None,
            ip=self._count(("ip", site_id, ip_index), since, until, cap)
            if ip_index is not None
            else None,
            email=self._count(("email", site_id, email_index), since, until, cap)
            if email_index is not None
            else None,
        )

    def near_duplicates(
        self,
        *,
        site_id: int,
        fingerprint: int | None,
        body_hash: bytes,
        exclude_email_index: bytes | None,
        since: dt.datetime,
        until: dt.datetime,
        limit: int = 50,
    ) -> list[Match]:
        lookup_keys: list[tuple[Any, ...]] = [("body", site_id, body_hash)]
        if fingerprint is not None:
            lookup_keys += [("band", site_id, k, band) for k, band in enumerate(bands(fingerprint))]
        found: dict[int, Match] = {}
        for key in lookup_keys:
            entries = self._by_key.get(key, [])
            # Newest first from `until` back, like the indexed ORDER BY ... LIMIT.
            end = bisect.bisect_right(entries, (until, float("inf")), key=lambda e: e.order)
            taken = 0
            for position in range(end - 1, -1, -1):
                entry = entries[position]
                if entry.submitted_at < since or taken >= limit:
                    break
                if exclude_email_index is not None and entry.email_index == exclude_email_index:
                    continue
                taken += 1
                match = _match(
                    entry.comment_id,
                    entry.email_index,
                    entry.status,
                    entry.submitted_at,
                    entry.fingerprint,
                    entry.body_hash,
                    fingerprint,
                    body_hash,
                )
                if match is not None:
                    found[match.comment_id] = match
        return _newest_first(found, limit)

    def author_record(self, site_id: int, email_index: bytes) -> AuthorRecord:
        author = self._authors.get((site_id, email_index))
        return _record(author.counts) if author else AuthorRecord()
