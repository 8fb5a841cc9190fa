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
from sqlalchemy.orm import Session

from core import outbox, tasknames
from core.config import Settings
from core.errors import (
    CommentNotFound,
    DuplicateComment,
    FloodLimited,
    InvalidSubmission,
    ThreadClosed,
)
from core.privacy import PrivacyVault, truncate_ip
from core.sites import get_site, site_policy
from models import Comment, CommentStatus, Site, Thread
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


def body_digest(body: str) -> bytes:
    """SHA-256 of the comment text, for duplicate detection."""
    return hashlib.sha256(body.encode()).digest()


def get_or_create_thread(
    session: Session, site: Site, key: str, *, url: str | None, title: str | None
) -> Thread:
    """The site's thread with this key, created on first use (safe under concurrency)."""
    thread = session.scalar(select(Thread).where(Thread.site_id == site.id, Thread.key == key))
    if thread is None:
        try:
            with session.begin_nested():
                thread = Thread(site_id=site.id, key=key, url=url, title=title)
                session.add(thread)
        except IntegrityError:  # another request created it first
            thread = session.scalar(
                select(Thread).where(Thread.site_id == site.id, Thread.key == key)
            )
            assert thread is not None
    if thread.url is None and url:
        thread.url = url
    if thread.title is None and title:
        thread.title = title
    return thread


def submit(
    session: Session,
    site: Site,
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
    thread = get_or_create_thread(
        session, site, data.thread, url=data.thread_url, title=data.thread_title
    )
    if thread.closed:
        raise ThreadClosed(f"comments are closed on {data.thread!r}")
    if data.parent is not None:
        _check_parent(session, thread, data.parent)

    encrypted = vault.encrypt_email(data.email)
    ip_index = vault.ip_index(meta.ip) if meta.ip else None
    digest = body_digest(data.comment)
    _refuse_duplicate(session, thread, data.name, encrypted.index, digest)
    flood_seconds = int(site_policy(site).get("flood_seconds", settings.flood_seconds))
    _refuse_flood(session, encrypted.index, ip_index, flood_seconds)

    comment = Comment(
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
        status=CommentStatus.PENDING,
        submitted_at=utcnow(),
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


def _refuse_duplicate(
    session: Session, thread: Thread, name: str, email_index: bytes, digest: bytes
) -> None:
    """WordPress's rule: same thread, same text, and the same author name or email."""
    duplicate = session.scalar(
        select(Comment.id)
        .where(
            Comment.body_hash == digest,
            Comment.thread_id == thread.id,
            or_(Comment.author_name == name, Comment.email_index == email_index),
        )
        .limit(1)
    )
    if duplicate is not None:
        raise DuplicateComment(
            "Duplicate comment detected; it looks as though you've already said that!"
        )


def _refuse_flood(
    session: Session, email_index: bytes, ip_index: bytes | None, flood_seconds: int
) -> None:
    """WordPress's flood rule: one comment per `flood_seconds` per full IP or per email."""
    if flood_seconds <= 0:
        return
    now = utcnow()
    since = now - dt.timedelta(seconds=flood_seconds)
    keys = [Comment.email_index == email_index]
    if ip_index is not None:
        keys.append(Comment.ip_index == ip_index)
    latest = session.scalar(
        select(func.max(Comment.submitted_at)).where(or_(*keys), Comment.submitted_at > since)
    )
    if latest is not None:
        if latest.tzinfo is None:  # SQLite aggregates come back as naive UTC
            latest = latest.replace(tzinfo=dt.UTC)
        wait = max(1, int(flood_seconds - (now - latest).total_seconds()) + 1)
        raise FloodLimited("You are posting comments too quickly. Slow down.", retry_after=wait)


def get_comment(session: Session, site_key: str, comment_id: int) -> Comment:
    """A comment of this site by id, whatever its status, or CommentNotFound."""
    site = get_site(session, site_key)
    comment = session.get(Comment, comment_id)
    if comment is None or comment.thread.site_id != site.id:
        raise CommentNotFound(f"no comment {comment_id} on site {site_key!r}")
    return comment


@dataclass(frozen=True)
class ThreadPage:
    """One page of a thread's approved comments, top-level comments paginated."""

    thread: Thread | None
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


def approved_thread(
    session: Session, site_key: str, thread_key: str, *, after: int | None, limit: int
) -> ThreadPage:
    """Approved comments of one thread as a tree, `limit` top-level comments per page.

    Replies whose parent is not approved are not shown (their context is hidden).
    """
    site = get_site(session, site_key)
    thread = session.scalar(
        select(Thread).where(Thread.site_id == site.id, Thread.key == thread_key)
    )
    if thread is None:
        return ThreadPage(thread=None, roots=[], total=0, next_after=None)
    approved = session.scalars(
        select(Comment)
        .where(Comment.thread_id == thread.id, Comment.status == CommentStatus.APPROVED)
        .order_by(Comment.id)
    ).all()
    nodes = {c.id: {**public_comment(c), "replies": []} for c in approved}
    roots: list[dict[str, Any]] = []
    for c in approved:
        node = nodes[c.id]
        if c.parent_id is None:
            roots.append(node)
        elif c.parent_id in nodes:
            nodes[c.parent_id]["replies"].append(node)
    start = [r for r in roots if after is None or r["id"] > after]
    page = start[:limit]
    next_after = page[-1]["id"] if len(start) > limit else None
    return ThreadPage(thread=thread, roots=page, total=len(nodes), next_after=next_after)
