"""Decisions: the only way a comment's status changes.

Every change is a compare-and-set on the current status (so two deciders can't both win),
writes a Decision with every check's verdict, records the event webhooks announce, and
completes the comment's outbox entry, all in the same transaction; a change to what the
public sees marks the thread for the read cache, invalidated after the commit
(core.readcache). The worker, the sweeper
and moderators (core.review) all come through here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, insert, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core import authors, events, outbox, readcache, tasknames
from core.checks import Action, CheckContext, Verdict, default_checks, run_pipeline
from core.checks.base import CommentFacts
from core.classify.linear import ModelFileError
from core.classify.registry import ClassifierSet, classifiers_for
from core.history import DatabaseHistory
from core.privacy import EncryptedEmail, PrivacyVault
from core.sites import site_policy
from models import CheckResult, Comment, CommentStatus, Decision, Site
from models.base import utcnow

log = logging.getLogger(__name__)

STATUS_FOR_ACTION = {
    Action.APPROVE: CommentStatus.APPROVED,
    Action.HOLD: CommentStatus.HELD,
    Action.REJECT: CommentStatus.REJECTED,
    Action.SPAM: CommentStatus.SPAM,
}


@dataclass(frozen=True)
class Outcome:
    """What a decision attempt did: `changed` is False when someone else decided first."""

    comment_id: int
    changed: bool
    status: CommentStatus | None


def facts_for(comment: Comment, vault: PrivacyVault) -> CommentFacts:
    """Decrypt and detach what the checks need."""
    email = vault.decrypt_email(
        EncryptedEmail(comment.email_ciphertext, comment.email_key_id, comment.email_index)
    )
    return CommentFacts(
        body=comment.body,
        author_name=comment.author_name,
        email=email,
        website=comment.website,
        ip_truncated=comment.ip_truncated,
        ip_index=comment.ip_index,
        user_agent=comment.user_agent,
        form_signals=comment.form_signals,
        site_id=comment.site_id,
        comment_id=comment.id,
        submitted_at=comment.submitted_at,
        email_index=comment.email_index,
        thread_key=comment.thread.key,
    )


def context_for(
    session: Session,
    site: Site,
    facts: CommentFacts,
    *,
    vault: PrivacyVault,
    thread_premoderated: bool = False,
) -> CheckContext:
    """Everything the checks need besides the comment: the site's policy, what moderators
    decided about the author, pre-moderation, earlier comments and the classifiers. The
    worker and the Akismet-compatible oracle build their contexts here, so both decide
    alike."""
    policy = site_policy(site)
    author = authors.standing(session, site.id, facts.email_index, facts.ip_truncated)
    return CheckContext(
        policy=policy,
        ip_index_of=vault.ip_index,
        author_standing=author.kind,
        author_standing_reason=author.reason,
        premoderated=bool(policy.get("premoderation")) or thread_premoderated,
        history=DatabaseHistory(session, exclude_id=facts.comment_id),
        classifiers=_classifiers(session, site.id),
    )


def _classifiers(session: Session, site_id: int) -> ClassifierSet | None:
    """The site's models; None when they cannot be loaded, which makes the classifier
    checks raise CheckUnavailable: the comment is held, never approved without them."""
    try:
        return classifiers_for(session, site_id)
    except ModelFileError:
        log.exception("classifier models unavailable")
        return None


def moderate(session: Session, comment_id: int, *, vault: PrivacyVault) -> Outcome:
    """Decide one PENDING comment with the pipeline. Idempotent: anything already decided
    (or gone) is left alone. The caller commits."""
    comment = session.get(Comment, comment_id)
    if comment is None or comment.status is not CommentStatus.PENDING:
        outbox.complete(session, tasknames.MODERATE, comment_id)
        log.info("already decided", extra={"comment_id": comment_id})
        return Outcome(comment_id, changed=False, status=comment.status if comment else None)
    facts = facts_for(comment, vault)
    ctx = context_for(
        session,
        comment.thread.site,
        facts,
        vault=vault,
        thread_premoderated=comment.thread.premoderated,
    )
    result = run_pipeline(default_checks(), facts, ctx)
    return decide(
        session,
        comment,
        STATUS_FOR_ACTION[result.action],
        decided_by=result.decided_by,
        reason=result.reason,
        verdicts=result.verdicts,
        shadow=result.shadow,
    )


def decide(
    session: Session,
    comment: Comment,
    new_status: CommentStatus,
    *,
    decided_by: str,
    reason: str,
    verdicts: list[tuple[str, Verdict | None]] | None = None,
    expected: CommentStatus = CommentStatus.PENDING,
    shadow: frozenset[str] = frozenset(),
) -> Outcome:
    """Compare-and-set `expected → new_status` with its audit trail. The caller commits."""
    now = utcnow()
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Comment)
        .where(Comment.id == comment.id, Comment.status == expected)
        .values(status=new_status, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(comment)
        log.info("lost the race to decide", extra={"comment_id": comment.id})
        return Outcome(comment.id, changed=False, status=comment.status)
    # The row already changed; record the values on the object without a second UPDATE.
    set_committed_value(comment, "status", new_status)
    set_committed_value(comment, "decided_at", now)
    decision = Decision(
        comment_id=comment.id,
        decided_by=decided_by,
        from_status=expected.value,
        to_status=new_status.value,
        reason=reason,
        created_at=now,
    )
    session.add(decision)
    session.flush()  # decision.id for its check rows
    if verdicts:
        session.execute(  # one executemany for all the check rows
            insert(CheckResult),
            [
                {
                    "decision_id": decision.id,
                    "position": position,
                    "check_name": name,
                    "action": verdict.action.value if verdict else None,
                    "score": verdict.score if verdict else 0.0,
                    "reason": verdict.reason if verdict else "no opinion",
                    "spans": [list(span) for span in verdict.spans]
                    if verdict and verdict.spans
                    else None,
                    "shadow": name in shadow,
                }
                for position, (name, verdict) in enumerate(verdicts)
            ],
        )
    outbox.complete(session, tasknames.MODERATE, comment.id)
    events.emit_for_status(session, comment)
    if CommentStatus.APPROVED in (expected, new_status):  # the public thread changes
        readcache.mark_changed(session, comment.site_id, comment.thread.key)
    log.info(
        "decided",
        extra={"comment_id": comment.id, "status": new_status.value, "decided_by": decided_by},
    )
    return Outcome(comment.id, changed=True, status=new_status)


def begin_attempt(session: Session, comment_id: int, *, max_attempts: int) -> bool:
    """Count a moderation run that did not (or may not) finish; False, with the comment held
    for a human, once there were more than `max_attempts`: a poison comment.

    The task calls it in a transaction of its own before re-running a redelivered message
    (the previous run may have killed its worker) and after a run that raised, so crashes
    and errors are counted while the common first run costs no extra transaction."""
    attempts = outbox.record_attempt(session, tasknames.MODERATE, comment_id)
    if attempts is None or attempts <= max_attempts:
        return True
    hold_for_human(
        session,
        comment_id,
        f"automatic moderation failed {attempts - 1} times (a check or the worker keeps "
        "crashing on this comment): held for a human",
    )
    return False


def hold_for_human(session: Session, comment_id: int, reason: str) -> Outcome:
    """Hold a still-PENDING comment that could not be decided automatically."""
    comment = session.get(Comment, comment_id)
    if comment is None or comment.status is not CommentStatus.PENDING:
        outbox.complete(session, tasknames.MODERATE, comment_id)
        return Outcome(comment_id, changed=False, status=comment.status if comment else None)
    return decide(session, comment, CommentStatus.HELD, decided_by="system", reason=reason)
