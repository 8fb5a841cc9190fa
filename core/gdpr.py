"""Export and erase a commenter's data by email (GDPR Art. 15, 17 and 20), WordPress-style.

Both look comments up by the email's blind index only (core.privacy), so case variants of
one address are one person, and both include every status: pending, held, spam and
rejected comments as well as approved ones.

**Erase anonymises; it does not delete.** Like WordPress's comment eraser, an erased
comment keeps its place, its status, its text and its replies, so a thread's structure and
the audit trail survive. What identifies the author goes:

- author name → "Anonymous"; website, user agent, referrer and form signals → NULL;
- the email → the ciphertext of the empty string, whose blind index is the index of ""
  (`erased_index`): every decryption path keeps working (it shows "…"), no real address
  ever has that index, so erased comments never match an erase, an export, a flood limit
  or an author's history again;
- the IP blind index and the truncated IP → NULL;
- the address itself, wherever the comment's text, its decisions' reasons (moderator
  notes) or its checks' reasons quote it, is replaced by `[email removed]`; a check reason
  that quotes any address-looking fragment (the personal-data check shortens them) loses
  the fragment too;
- its training labels (copies of the text kept for the classifiers) are deleted;
- the event payloads and stored webhook bodies of the comment are rewritten with the
  anonymised author, so a retry never sends the old name and the delivery log no longer
  holds it;
- the site's author marks (ban/trust) on that email's index are deleted, and audit rows
  that named the author by that index say "erased" instead.

Outbox rows carry only a task name and a comment id (no personal data); the one a pending
comment has is kept, so the comment is still decided (on its anonymised data) and the
ledger stays whole. One audit row records each erase: how many comments, when it was
asked and the Art. 12(3) due date; never the address.

Erasing runs in batches (`erase_batches` yields after each one so the caller can commit),
and is idempotent and resumable: erased rows no longer match the index, so a second run,
or a run after an interruption, finds only what is left.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core import audit, readcache
from core.access import Principal
from core.comments import body_digest
from core.events import comment_payload
from core.privacy import PrivacyVault
from core.text.fingerprint import bands, fingerprint_body
from core.webhooks.fanout import envelope
from models import (
    AuditEntry,
    AuthorMark,
    Comment,
    Decision,
    Event,
    TrainingLabel,
    WebhookDelivery,
)
from models.base import utcnow

BATCH_SIZE = 500  # WordPress's exporter and eraser page size
ANONYMOUS = "Anonymous"
EMAIL_REMOVED = "[email removed]"
# Art. 12(3): answer a request within one month.
RESPONSE_DUE = dt.timedelta(days=30)
# Anything that looks like an address or a shortened one ("jane.doe@exam…").
_ADDRESS_LIKE = re.compile(r"[^\s;,:()<>\"']*@[^\s;,()<>\"']*")


@dataclass(frozen=True)
class ExportPage:
    """One page of an export: the comments as dicts, and where the next page starts."""

    items: list[dict[str, Any]]
    next_cursor: int | None

    @property
    def done(self) -> bool:
        return self.next_cursor is None


@dataclass(frozen=True)
class EraseBatch:
    """What one erase batch did: the comment ids it anonymised and whether more remain."""

    comment_ids: list[int]
    done: bool
    audit_id: int | None = None  # the erase's audit row, on the last batch


@dataclass(frozen=True)
class EraseSummary:
    """A whole erase: how many comments, in how many batches, and the audit row's id."""

    erased: int
    batches: int
    audit_id: int | None


def erased_index(vault: PrivacyVault) -> bytes:
    """The blind index every erased comment carries (that of the empty address)."""
    return vault.email_index("")


def _email_index(vault: PrivacyVault, email: str) -> bytes:
    if not email.strip():
        raise ValueError("an email address is required")
    return vault.email_index(email)


def count_by_email(session: Session, site_id: int, email: str, *, vault: PrivacyVault) -> int:
    """How many comments (any status) of that email the site holds."""
    found = session.scalar(
        select(func.count())
        .select_from(Comment)
        .where(Comment.site_id == site_id, Comment.email_index == _email_index(vault, email))
    )
    return found or 0


# -- export ------------------------------------------------------------------------------


def _exported(comment: Comment) -> dict[str, Any]:
    """WordPress exporter fields, minus the address the requester gave us."""
    thread = comment.thread
    return {
        "id": comment.id,
        "status": comment.status.value,
        "thread": {"key": thread.key, "url": thread.url, "title": thread.title},
        "link": f"{thread.url}#comment-{comment.id}" if thread.url else None,
        "parent_id": comment.parent_id,
        "author_name": comment.author_name,
        "website": comment.website,
        "ip_prefix": comment.ip_truncated,
        "user_agent": comment.user_agent,
        "referrer": comment.referrer,
        "body": comment.body,
        "submitted_at": comment.submitted_at.isoformat(),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
    }


def export_page(
    session: Session,
    site_id: int,
    email: str,
    *,
    vault: PrivacyVault,
    after_id: int | None = None,
    limit: int = BATCH_SIZE,
) -> ExportPage:
    """One page of every comment (any status) of that email on the site, oldest first."""
    query = select(Comment).where(
        Comment.site_id == site_id, Comment.email_index == _email_index(vault, email)
    )
    if after_id is not None:
        query = query.where(Comment.id > after_id)
    rows = list(session.scalars(query.order_by(Comment.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return ExportPage([_exported(c) for c in rows], rows[-1].id if more and rows else None)


def export_by_email(
    session: Session, site_id: int, email: str, *, vault: PrivacyVault, batch_size: int = BATCH_SIZE
) -> list[dict[str, Any]]:
    """Every comment of that email on the site (Art. 15/20), read in pages."""
    items: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        page = export_page(session, site_id, email, vault=vault, after_id=cursor, limit=batch_size)
        items.extend(page.items)
        if page.done:
            return items
        cursor = page.next_cursor


def record_export(
    session: Session, site_id: int, principal: Principal, *, count: int
) -> AuditEntry:
    """The audit row of an export (how many comments; never the address)."""
    return audit.record(
        session, principal, "privacy.export", site_id=site_id, detail={"comments": count}
    )


# -- erase -------------------------------------------------------------------------------


def _redact(text: str, email: str) -> str:
    return re.sub(re.escape(email.strip()), EMAIL_REMOVED, text, flags=re.IGNORECASE)


def _redact_reason(text: str, email: str) -> str:
    return _ADDRESS_LIKE.sub(EMAIL_REMOVED, _redact(text, email))


def _anonymise(session: Session, comment: Comment, email: str, vault: PrivacyVault) -> None:
    blank = vault.encrypt_email("")
    comment.author_name = ANONYMOUS
    comment.website = None
    comment.user_agent = None
    comment.referrer = None
    comment.form_signals = None
    comment.email_ciphertext = blank.ciphertext
    comment.email_key_id = blank.key_id
    comment.email_index = blank.index
    comment.ip_index = None
    comment.ip_truncated = None
    body = _redact(comment.body, email)
    body_changed = body != comment.body
    if body_changed:
        comment.body = body
        comment.body_hash = body_digest(body)
        fingerprint = fingerprint_body(body)
        comment.simhash = fingerprint
        (
            comment.simhash_b0,
            comment.simhash_b1,
            comment.simhash_b2,
            comment.simhash_b3,
        ) = bands(fingerprint) if fingerprint is not None else (None, None, None, None)
    for decision in session.scalars(select(Decision).where(Decision.comment_id == comment.id)):
        decision.reason = _redact_reason(decision.reason, email)
        for check in decision.checks:
            check.reason = _redact_reason(check.reason, email)
            if body_changed:
                check.spans = None  # offsets into the old text


def _rewrite_events(session: Session, comments: dict[int, Comment]) -> None:
    """Events and stored webhook bodies of these comments carry the anonymised author."""
    events = session.scalars(select(Event).where(Event.comment_id.in_(comments)))
    for event in events:
        if event.comment_id is None or "comment" not in event.payload:
            continue
        old = event.payload["comment"]
        fresh = comment_payload(comments[event.comment_id])
        # The event still says what happened then: the status and time it announced.
        fresh["status"] = old.get("status", fresh["status"])
        fresh["decided_at"] = old.get("decided_at", fresh["decided_at"])
        event.payload = {**event.payload, "comment": fresh}
        body = envelope(event)
        for delivery in session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)
        ):
            delivery.body = body


def _scrub_audit(session: Session, site_id: int, index: bytes, comment_ids: list[int]) -> None:
    """Audit rows about these comments that named the author by its index say "erased"."""
    key = index.hex()
    rows = session.scalars(
        select(AuditEntry).where(
            AuditEntry.site_id == site_id, AuditEntry.comment_id.in_(comment_ids)
        )
    )
    for row in rows:
        if isinstance(row.detail, dict) and key in json.dumps(row.detail):
            row.detail = json.loads(json.dumps(row.detail).replace(key, "erased"))


def erase_batch(
    session: Session, site_id: int, email: str, *, vault: PrivacyVault, limit: int = BATCH_SIZE
) -> EraseBatch:
    """Anonymise up to `limit` comments of that email on the site. The caller commits;
    after the commit those rows no longer match, so calling again continues."""
    index = _email_index(vault, email)
    rows = list(
        session.scalars(
            select(Comment)
            .where(Comment.site_id == site_id, Comment.email_index == index)
            .order_by(Comment.id)
            .limit(limit + 1)
            .with_for_update(of=Comment)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [c.id for c in rows]
    if ids:
        session.execute(delete(TrainingLabel).where(TrainingLabel.comment_id.in_(ids)))
        _scrub_audit(session, site_id, index, ids)
        for comment in rows:
            _anonymise(session, comment, email, vault)
            # Public listings cached in Redis show the old name until invalidated.
            readcache.mark_changed(session, site_id, comment.thread.key)
        _rewrite_events(session, {c.id: c for c in rows})
    if not more:
        session.execute(
            delete(AuthorMark).where(AuthorMark.site_id == site_id, AuthorMark.email_index == index)
        )
    session.flush()
    return EraseBatch(ids, done=not more)


def erase_batches(
    session: Session,
    site_id: int,
    email: str,
    principal: Principal,
    *,
    vault: PrivacyVault,
    batch_size: int = BATCH_SIZE,
    requested_at: dt.datetime | None = None,
) -> Iterator[EraseBatch]:
    """Erase in batches, yielding after each so the caller can commit it; the last batch
    also writes the audit row. Stop iterating at any point: a later run continues."""
    asked = requested_at or utcnow()
    erased = 0
    while True:
        batch = erase_batch(session, site_id, email, vault=vault, limit=batch_size)
        erased += len(batch.comment_ids)
        if batch.done:
            entry = audit.record(
                session,
                principal,
                "privacy.erase",
                site_id=site_id,
                detail={
                    "comments": erased,
                    "requested_at": asked.isoformat(),
                    "due_by": (asked + RESPONSE_DUE).date().isoformat(),
                },
            )
            session.flush()
            batch = EraseBatch(batch.comment_ids, done=True, audit_id=entry.id)
        yield batch
        if batch.done:
            return


def erase_by_email(
    session: Session,
    site_id: int,
    email: str,
    principal: Principal,
    *,
    vault: PrivacyVault,
    batch_size: int = BATCH_SIZE,
) -> EraseSummary:
    """Erase everything in one transaction (the caller commits). For large erasures, loop
    over `erase_batches` and commit after each batch instead."""
    erased = batches = 0
    audit_id: int | None = None
    for batch in erase_batches(
        session, site_id, email, principal, vault=vault, batch_size=batch_size
    ):
        erased += len(batch.comment_ids)
        batches += 1
        audit_id = batch.audit_id
    return EraseSummary(erased, batches, audit_id)
