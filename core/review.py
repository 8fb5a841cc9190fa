"""Moderators' decisions: approve, reject, spam, not spam, delete; in bulk; replies as the site;
revealing an email. Each goes through core.moderation.decide (the worker's own path: the
same compare-and-set, decision row and events) and writes an audit row.

Conflicts are refused, never silently merged: deciding a comment that someone else has
just decided (the status is no longer the one the moderator saw), or asking for the
status it already has, raises DecisionConflict with the current status and last decision.
Each moderator decision also records its training label (core.labels: approve and not
spam → ham, spam → spam, reject → abuse) in the same transaction, the labels the learning
classifiers train on.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, authors, labels, moderation
from core.access import Principal
from core.comments import body_digest
from core.errors import CommentNotFound, DecisionConflict, InvalidSetting
from core.privacy import EncryptedEmail, PrivacyVault
from models import AuditEntry, AuthorMark, Comment, CommentStatus, Decision, Site, Thread
from models.base import utcnow

MAX_BULK = 200


class ReviewAction(enum.StrEnum):
    """What a moderator can do to a comment."""

    APPROVE = "approve"
    REJECT = "reject"
    SPAM = "spam"
    HAM = "ham"  # "not spam": undo a spam verdict, publishing the comment
    DELETE = "delete"


TARGET_STATUS = {
    ReviewAction.APPROVE: CommentStatus.APPROVED,
    ReviewAction.REJECT: CommentStatus.REJECTED,
    ReviewAction.SPAM: CommentStatus.SPAM,
    ReviewAction.HAM: CommentStatus.APPROVED,
    ReviewAction.DELETE: CommentStatus.DELETED,
}


def site_comment(session: Session, site_id: int, comment_id: int) -> Comment:
    """A comment of the site, whatever its status (CommentNotFound otherwise)."""
    comment = session.get(Comment, comment_id)
    if comment is None or comment.site_id != site_id:
        raise CommentNotFound(f"no comment {comment_id} on this site")
    return comment


def last_decision(session: Session, comment_id: int) -> dict[str, Any] | None:
    """Who last changed the comment's status, when and why (for a 409's explanation)."""
    decision = session.scalar(
        select(Decision).where(Decision.comment_id == comment_id).order_by(Decision.id.desc())
    )
    if decision is None:
        return None
    by_name = decision.decided_by
    if decision.decided_by.startswith(("moderator:", "token:")):
        entry = session.scalar(
            select(AuditEntry)
            .where(AuditEntry.comment_id == comment_id, AuditEntry.actor == decision.decided_by)
            .order_by(AuditEntry.id.desc())
        )
        by_name = entry.actor_name if entry else by_name
    return {
        "by": by_name,
        "from_status": decision.from_status,
        "to_status": decision.to_status,
        "reason": decision.reason,
        "at": decision.created_at.isoformat(),
    }


def _conflict(session: Session, comment: Comment, message: str) -> DecisionConflict:
    return DecisionConflict(
        message, current=comment.status.value, last_decision=last_decision(session, comment.id)
    )


def decide(
    session: Session,
    site_id: int,
    comment_id: int,
    action: ReviewAction,
    principal: Principal,
    *,
    expected: CommentStatus | None = None,
    note: str = "",
) -> Comment:
    """Apply a moderator's action to one comment; the caller commits.

    `expected` is the status the moderator saw: when someone decided in the meantime the
    action is refused (DecisionConflict) instead of overwriting their decision.
    """
    comment = site_comment(session, site_id, comment_id)
    before = comment.status
    target = TARGET_STATUS[action]
    if expected is not None and before is not expected:
        raise _conflict(session, comment, f"The comment was {before.value} meanwhile.")
    if before is target:
        raise _conflict(session, comment, f"The comment is already {before.value}.")
    if action is ReviewAction.HAM and before is not CommentStatus.SPAM:
        raise _conflict(session, comment, "Only a comment marked spam can be marked not spam.")
    reason = f"{action.value} by {principal.name}" + (f": {note}" if note else "")
    outcome = moderation.decide(
        session, comment, target, decided_by=principal.actor, reason=reason, expected=before
    )
    if not outcome.changed:  # lost a race inside the same instant
        raise _conflict(session, comment, "Another decision on this comment came first.")
    label = labels.label_for_transition(before, target)
    if label is not None:  # the moderator's judgement of the text, for the classifiers
        labels.record_label(
            session,
            site_id=site_id,
            body=comment.body,
            label=label,
            source=principal.actor,
            comment_id=comment.id,
        )
    audit.record(
        session,
        principal,
        f"comment.{action.value}",
        site_id=site_id,
        comment_id=comment.id,
        before=before.value,
        after=target.value,
        detail={"note": note} if note else None,
    )
    return comment


@dataclass(frozen=True)
class BulkResult:
    """Per comment: the new status, or the conflict / not-found that stopped it."""

    decided: list[Comment]
    failed: dict[int, str]


def decide_many(
    session: Session,
    site_id: int,
    comment_ids: Sequence[int],
    action: ReviewAction,
    principal: Principal,
) -> BulkResult:
    """The same action on a selection; each comment in a SAVEPOINT of its own so one
    conflict does not undo the others. The caller commits."""
    if not comment_ids or len(comment_ids) > MAX_BULK:
        raise InvalidSetting(
            "bad selection", fields={"ids": [f"select between 1 and {MAX_BULK} comments"]}
        )
    decided: list[Comment] = []
    failed: dict[int, str] = {}
    for comment_id in dict.fromkeys(comment_ids):  # unique, in the given order
        try:
            with session.begin_nested():
                decided.append(decide(session, site_id, comment_id, action, principal))
        except (DecisionConflict, CommentNotFound) as exc:
            failed[comment_id] = exc.message
    return BulkResult(decided, failed)


def reply_as_site(
    session: Session,
    site: Site,
    parent_id: int,
    body: str,
    principal: Principal,
    *,
    vault: PrivacyVault,
) -> Comment:
    """Publish a reply under the site's name, approved at once; the caller commits.

    The reply needs an email like any comment: it stores a non-deliverable address of the
    site, encrypted like every other, and it is never shown."""
    parent = site_comment(session, site.id, parent_id)
    if parent.status is not CommentStatus.APPROVED:
        raise InvalidSetting(
            "bad parent", fields={"parent": ["Replies are only possible to approved comments."]}
        )
    text = body.strip()
    if not text or len(text) > 65525:
        raise InvalidSetting(
            "bad reply", fields={"comment": ["Write between 1 and 65525 characters."]}
        )
    encrypted = vault.encrypt_email(f"{site.key}@replies.invalid")
    reply = Comment(
        site_id=site.id,
        thread_id=parent.thread_id,
        parent_id=parent.id,
        author_name=site.name[:245],
        email_ciphertext=encrypted.ciphertext,
        email_key_id=encrypted.key_id,
        email_index=encrypted.index,
        body=text,
        body_hash=body_digest(text),
        status=CommentStatus.PENDING,
        submitted_at=utcnow(),
    )
    session.add(reply)
    session.flush()
    moderation.decide(
        session,
        reply,
        CommentStatus.APPROVED,
        decided_by=principal.actor,
        reason=f"reply by {principal.name} as the site",
    )
    audit.record(
        session,
        principal,
        "comment.reply",
        site_id=site.id,
        comment_id=reply.id,
        after=CommentStatus.APPROVED.value,
        detail={"parent": parent.id},
    )
    return reply


def mark_author(
    session: Session,
    site_id: int,
    comment_id: int,
    action: str,
    principal: Principal,
    *,
    by: str = "email",
    reason: str = "",
) -> AuthorMark | None:
    """Ban or trust the comment's author, or clear their marks; audited. `by` is "email"
    (the blind index) or "ip" (the comment's /24 or /48 prefix, for bans). Returns the new
    mark (None when clearing); the caller commits."""
    comment = site_comment(session, site_id, comment_id)
    if by not in ("email", "ip"):
        raise InvalidSetting("bad target", fields={"by": ["email or ip"]})
    if by == "ip" and not comment.ip_truncated:
        raise InvalidSetting(
            "This comment has no IP prefix to ban.", fields={"by": ["no IP prefix is stored"]}
        )
    target: dict[str, Any] = (
        {"ip_prefix": comment.ip_truncated} if by == "ip" else {"email_index": comment.email_index}
    )
    made: AuthorMark | None = None
    if action == "clear":
        authors.clear(session, site_id, **target)
    else:
        made = authors.mark(session, site_id, principal, action, reason=reason, **target)
    audit.record(
        session,
        principal,
        f"author.{action}",
        site_id=site_id,
        comment_id=comment.id,
        detail={"by": by, "author": authors.author_key(comment.email_index)},
    )
    return made


def reveal_email(
    session: Session, site_id: int, comment_id: int, principal: Principal, vault: PrivacyVault
) -> str:
    """The commenter's full email, for an admin; the reveal itself is audited (the caller
    commits, and must not return the address if the commit fails)."""
    comment = site_comment(session, site_id, comment_id)
    email = vault.decrypt_email(
        EncryptedEmail(comment.email_ciphertext, comment.email_key_id, comment.email_index)
    )
    audit.record(session, principal, "email.reveal", site_id=site_id, comment_id=comment.id)
    return email


def set_thread_premoderation(
    session: Session, site_id: int, thread_key: str, on: bool, principal: Principal
) -> Thread:
    """Turn pre-moderation of one thread on or off, audited."""
    thread = session.scalar(
        select(Thread).where(Thread.site_id == site_id, Thread.key == thread_key)
    )
    if thread is None:
        raise InvalidSetting("no such thread", fields={"thread": ["no such thread"]})
    before = thread.premoderated
    thread.premoderated = on
    audit.record(
        session,
        principal,
        "thread.premoderation",
        site_id=site_id,
        before=str(before).lower(),
        after=str(on).lower(),
        detail={"thread": thread_key},
    )
    return thread
