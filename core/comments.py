"""Submitting comments and reading them back publicly.

`submit` stores a PENDING comment and its outbox entry in the caller's transaction; it
never commits. Reading functions return only what anyone may see: approved comments,
with no email and no IP.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from core import outbox, readcache, tasknames
from core.config import Settings
from core.errors import (
    CommentNotFound,
    DuplicateComment,
    FloodLimited,
    InvalidSubmission,
    ThreadClosed,
)
from core.privacy import PrivacyVault, truncate_ip
from core.sites import SiteLike
from core.text.fingerprint import bands, fingerprint_body
from models import Comment, CommentStatus, Thread
from models.base import utcnow


@dataclass(frozen=True)
class SubmissionMeta:
    """Request facts the adapter hands in. `ip` is the full address: it is used for the
    flood index and truncation here and never stored or logged as is."""

    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None


@dataclass(frozen=True)
class NewComment:
    """A validated submission, in our own field names."""

    thread: str
    comment: str
    name: str
    email: str
    website: str | None = None
    parent: int | None = None
    thread_url: str | None = None
    thread_title: str | None = None
    # What the form reported (core.formtoken.form_signals); None for API clients.
    form_signals: dict[str, Any] | None = None


def body_digest(body: str) -> bytes:
    """SHA-256 of the comment text, for duplicate detection."""
    return hashlib.sha256(body.encode()).digest()


def get_or_create_thread(
    session: Session, site: SiteLike, key: str, *, url: str | None, title: str | None
) -> Thread:
    """The site's thread with this key, created on first use (safe under concurrency)."""
    query = (
        select(Thread)
        .where(Thread.site_id == site.id, Thread.key == key)
        .options(lazyload(Thread.site))  # the caller has the site already
    )
    thread = session.scalar(query)
    if thread is None:
        try:
            with session.begin_nested():
                thread = Thread(site_id=site.id, key=key, url=url, title=title)
                session.add(thread)
        except IntegrityError:  # another request created it first
            thread = session.scalar(query)
            assert thread is not None
    if (thread.url is None and url) or (thread.title is None and title):
        thread.url = thread.url or url
        thread.title = thread.title or title
        readcache.mark_changed(session, site.id, key)  # public listings show both
    return thread


def submit(
    session: Session,
    site: SiteLike,
    data: NewComment,
    *,
    meta: SubmissionMeta,
    vault: PrivacyVault,
    settings: Settings,
) -> Comment:
    """Store a new PENDING comment and its moderation task. The caller commits.

    Raises ThreadClosed, InvalidSubmission (bad parent), DuplicateComment and
    FloodLimited; in every case nothing has been written that a rollback won't undo.
    """
    # Everything that needs no database first: on SQLite the first statement takes the
    # write lock, which is then held until the caller commits.
    encrypted = vault.encrypt_email(data.email)
    ip_index = vault.ip_index(meta.ip) if meta.ip else None
    digest = body_digest(data.comment)
    # Near-duplicate fingerprint and its bands (core.history looks them up); None for
    # very short comments, which are compared by body_hash only.
    fingerprint = fingerprint_body(data.comment)
    fingerprint_bands = bands(fingerprint) if fingerprint is not None else (None,) * 4
    flood_seconds = int(site.policy.get("flood_seconds", settings.flood_seconds))

    thread = get_or_create_thread(
        session, site, data.thread, url=data.thread_url, title=data.thread_title
    )
    if thread.closed:
        raise ThreadClosed(f"comments are closed on {data.thread!r}")
    if data.parent is not None:
        _check_parent(session, thread, data.parent)
    same_text = hashlib.sha256(f"{thread.id}|".encode() + digest).digest()
    _serialize_submissions(session, [encrypted.index, ip_index, same_text])
    _refuse_duplicate_or_flood(
        session, thread, data.name, encrypted.index, ip_index, digest, flood_seconds
    )

    comment = Comment(
        site_id=site.id,
        thread=thread,
        parent_id=data.parent,
        author_name=data.name,
        website=data.website,
        email_ciphertext=encrypted.ciphertext,
        email_key_id=encrypted.key_id,
        email_index=encrypted.index,
        ip_index=ip_index,
        ip_truncated=truncate_ip(meta.ip) if meta.ip else None,
        user_agent=(meta.user_agent or None) and meta.user_agent[:500],
        referrer=(meta.referrer or None) and meta.referrer[:2000],
        body=data.comment,
        body_hash=digest,
        simhash=fingerprint,
        simhash_b0=fingerprint_bands[0],
        simhash_b1=fingerprint_bands[1],
        simhash_b2=fingerprint_bands[2],
        simhash_b3=fingerprint_bands[3],
        status=CommentStatus.PENDING,
        submitted_at=utcnow(),
        form_signals=data.form_signals,
    )
    session.add(comment)
    session.flush()  # assigns comment.id for the outbox entry
    outbox.enqueue(
        session,
        tasknames.MODERATE,
        comment.id,
        stale_after=dt.timedelta(seconds=settings.stale_after_seconds),
    )
    return comment


def _check_parent(session: Session, thread: Thread, parent_id: int) -> None:
    parent = session.get(Comment, parent_id)
    if parent is None or parent.thread_id != thread.id:
        raise InvalidSubmission(
            "bad parent", fields={"parent": ["No such comment in this thread."]}
        )
    if parent.status is not CommentStatus.APPROVED:
        # WordPress refuses replies to unapproved comments too.
        raise InvalidSubmission(
            "bad parent", fields={"parent": ["Replies are only possible to approved comments."]}
        )


def _lock_key(index: bytes) -> int:
    return int.from_bytes(index[:8], "big", signed=True)


def _serialize_submissions(session: Session, identities: list[bytes | None]) -> None:
    """On PostgreSQL, make concurrent submissions that share an email, an IP or the same
    text in the same thread wait for each other (transaction-scoped advisory locks, taken
    in a fixed order so they cannot deadlock), so the duplicate and flood checks see each
    other's rows. On SQLite the write lock taken at the first statement already does it."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({_lock_key(identity) for identity in identities if identity})
    session.execute(select(*(func.pg_advisory_xact_lock(key) for key in keys)))


def _refuse_duplicate_or_flood(
    session: Session,
    thread: Thread,
    name: str,
    email_index: bytes,
    ip_index: bytes | None,
    digest: bytes,
    flood_seconds: int,
) -> None:
    """WordPress's two rules, asked in one round trip.

    Duplicate: same thread, same text, and the same author name or email.
    Flood: one comment per `flood_seconds` per full IP or per email (0 disables it).
    """
    now = utcnow()
    duplicate = (
        select(Comment.id)
        .where(
            Comment.body_hash == digest,
            Comment.thread_id == thread.id,
            or_(Comment.author_name == name, Comment.email_index == email_index),
        )
        .limit(1)
        .scalar_subquery()
    )
    columns: list[Any] = [duplicate]
    if flood_seconds > 0:
        authors = [Comment.email_index == email_index]
        if ip_index is not None:
            authors.append(Comment.ip_index == ip_index)
        since = now - dt.timedelta(seconds=flood_seconds)
        latest = (
            select(func.max(Comment.submitted_at))
            .where(or_(*authors), Comment.submitted_at > since)
            .scalar_subquery()
        )
        columns.append(latest)
    row = session.execute(select(*columns)).one()
    if row[0] is not None:
        raise DuplicateComment(
            "Duplicate comment detected; it looks as though you've already said that!"
        )
    latest_at = row[1] if flood_seconds > 0 else None
    if latest_at is not None:
        if latest_at.tzinfo is None:  # SQLite keeps no zone; we only ever store UTC
            latest_at = latest_at.replace(tzinfo=dt.UTC)
        wait = max(1, int(flood_seconds - (now - latest_at).total_seconds()) + 1)
        raise FloodLimited("You are posting comments too quickly. Slow down.", retry_after=wait)


def get_comment(session: Session, site: SiteLike, comment_id: int) -> Comment:
    """A comment of this site by id, whatever its status, or CommentNotFound."""
    comment = session.get(Comment, comment_id)
    if comment is None or comment.site_id != site.id:
        raise CommentNotFound(f"no comment {comment_id} on site {site.key!r}")
    return comment


@dataclass(frozen=True)
class ThreadInfo:
    """What the public may know about a thread."""

    key: str
    url: str | None
    title: str | None
    closed: bool


@dataclass(frozen=True)
class ThreadPage:
    """One page of a thread's approved comments, top-level comments paginated; `total` is
    the thread's number of approved comments."""

    thread: ThreadInfo | None
    roots: list[dict[str, Any]]
    total: int
    next_after: int | None


def public_comment(comment: Comment) -> dict[str, Any]:
    """The fields of an approved comment anyone may see."""
    return {
        "id": comment.id,
        "parent": comment.parent_id,
        "author_name": comment.author_name,
        "website": comment.website,
        "body": comment.body,
        "submitted_at": comment.submitted_at,
    }


_PUBLIC_COLUMNS = (
    Comment.id,
    Comment.parent_id,
    Comment.author_name,
    Comment.website,
    Comment.body,
    Comment.submitted_at,
)


def thread_info(session: Session, site: SiteLike, thread_key: str) -> tuple[int, ThreadInfo] | None:
    """The thread's id and public facts, or None when nobody commented there yet."""
    row = session.execute(
        select(Thread.id, Thread.url, Thread.title, Thread.closed).where(
            Thread.site_id == site.id, Thread.key == thread_key
        )
    ).one_or_none()
    if row is None:
        return None
    return row.id, ThreadInfo(thread_key, row.url, row.title, bool(row.closed))


def approved_thread(
    session: Session, site: SiteLike, thread_key: str, *, after: int | None, limit: int
) -> ThreadPage:
    """Approved comments of one thread as a tree, `limit` top-level comments per page.

    Replies whose parent is not approved are not shown (their context is hidden). Only
    the public columns are read (no ORM objects): a thousand comments cost one indexed
    query on `(thread_id, status, id)` and a pass in Python to build the tree.
    """
    found = thread_info(session, site, thread_key)
    if found is None:
        return ThreadPage(thread=None, roots=[], total=0, next_after=None)
    thread_id, info = found
    rows = session.execute(
        select(*_PUBLIC_COLUMNS)
        .where(Comment.thread_id == thread_id, Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.id)
    ).all()
    nodes: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for row in rows:  # ids ascend, so a parent is always seen before its replies
        node = {
            "id": row.id,
            "parent": row.parent_id,
            "author_name": row.author_name,
            "website": row.website,
            "body": row.body,
            "submitted_at": row.submitted_at,
            "replies": [],
        }
        nodes[row.id] = node
        if row.parent_id is None:
            roots.append(node)
        elif row.parent_id in nodes:
            nodes[row.parent_id]["replies"].append(node)
    start = [r for r in roots if after is None or r["id"] > after]
    page = start[:limit]
    next_after = page[-1]["id"] if len(start) > limit else None
    return ThreadPage(thread=info, roots=page, total=len(nodes), next_after=next_after)


def latest_approved(
    session: Session, site: SiteLike, thread_key: str, *, limit: int
) -> tuple[ThreadInfo | None, list[dict[str, Any]]]:
    """The thread's newest approved comments first (for feeds), with `decided_at`."""
    found = thread_info(session, site, thread_key)
    if found is None:
        return None, []
    thread_id, info = found
    rows = session.execute(
        select(*_PUBLIC_COLUMNS, Comment.decided_at)
        .where(Comment.thread_id == thread_id, Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.id.desc())
        .limit(limit)
    ).all()
    return info, [
        {
            "id": row.id,
            "parent": row.parent_id,
            "author_name": row.author_name,
            "website": row.website,
            "body": row.body,
            "submitted_at": row.submitted_at,
            "decided_at": row.decided_at or row.submitted_at,
        }
        for row in rows
    ]


def approved_counts(session: Session, site: SiteLike, thread_keys: list[str]) -> dict[str, int]:
    """Approved comments per thread key, in one query (0 for threads nobody commented on)."""
    counts = dict.fromkeys(thread_keys, 0)
    if not thread_keys:
        return counts
    rows = session.execute(
        select(Thread.key, func.count(Comment.id))
        .join(Comment, Comment.thread_id == Thread.id)
        .where(
            Thread.site_id == site.id,
            Thread.key.in_(thread_keys),
            Comment.status == CommentStatus.APPROVED,
        )
        .group_by(Thread.key)
    ).all()
    for key, count in rows:
        counts[key] = int(count)
    return counts
