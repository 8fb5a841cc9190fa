"""Deciding comments: the pipeline's decision, compare-and-set, the audit trail, the sweeper."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import comments, moderation, sweeper, tasknames
from core.checks.pipeline import check_names
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.privacy import PrivacyVault
from models import CheckResult, Comment, CommentStatus, Decision, OutboxEntry, Site
from models.base import utcnow


def submit(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    body: str = "Fine reporting.",
    n: int = 1,
) -> Comment:
    comment = comments.submit(
        session,
        site,
        NewComment(thread="t", comment=body, name=f"N{n}", email=f"n{n}@example.org"),
        meta=SubmissionMeta(ip=f"192.0.2.{n}"),
        vault=vault,
        settings=settings,
    )
    session.commit()
    return comment


def decisions(session: Session, comment_id: int) -> list[Decision]:
    return list(session.scalars(select(Decision).where(Decision.comment_id == comment_id)))


def test_moderate_approves_writes_audit_and_completes_outbox(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = submit(session, site, vault, settings)
    outcome = moderation.moderate(session, comment.id, vault=vault)
    session.commit()
    assert outcome.changed and outcome.status is CommentStatus.APPROVED
    assert comment.status is CommentStatus.APPROVED and comment.decided_at is not None
    [decision] = decisions(session, comment.id)
    assert (decision.from_status, decision.to_status, decision.decided_by) == (
        "pending",
        "approved",
        "pipeline",
    )
    assert [c.check_name for c in decision.checks] == check_names()
    assert all(c.action is None and c.reason == "no opinion" for c in decision.checks)
    assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0


def test_moderate_is_idempotent(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """C13: a second run of the same task changes nothing."""
    comment = submit(session, site, vault, settings)
    moderation.moderate(session, comment.id, vault=vault)
    again = moderation.moderate(session, comment.id, vault=vault)
    session.commit()
    assert not again.changed and again.status is CommentStatus.APPROVED
    assert len(decisions(session, comment.id)) == 1
    assert not moderation.moderate(session, 987654321, vault=vault).changed


def test_site_policy_drives_the_decision(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    site.policy = {"moderation_words": ["refund"], "disallowed_words": ["casino"]}
    session.commit()
    held = submit(session, site, vault, settings, "Contact our refund desk", 1)
    spam = submit(session, site, vault, settings, "Best casino bonus", 2)
    linky = submit(session, site, vault, settings, "see https://a.example https://b.example", 3)
    for c in (held, spam, linky):
        moderation.moderate(session, c.id, vault=vault)
    session.commit()
    assert (held.status, spam.status, linky.status) == (
        CommentStatus.HELD,
        CommentStatus.SPAM,
        CommentStatus.HELD,
    )
    [decision] = decisions(session, spam.id)
    assert decision.reason == 'disallowed word: "casino" in the comment'
    assert decision.decided_by == "check:disallowed_words"
    spam_row = session.scalar(
        select(CheckResult).where(
            CheckResult.decision_id == decision.id, CheckResult.check_name == "disallowed_words"
        )
    )
    assert spam_row is not None and spam_row.action == "spam"


def test_compare_and_set_refuses_a_second_decider(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = submit(session, site, vault, settings)
    first = moderation.decide(session, comment, CommentStatus.HELD, decided_by="a", reason="x")
    second = moderation.decide(session, comment, CommentStatus.APPROVED, decided_by="b", reason="y")
    session.commit()
    assert first.changed and not second.changed
    assert second.status is CommentStatus.HELD
    assert len(decisions(session, comment.id)) == 1


def test_sweeper_resends_stale_entries_only(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """C14: the outbox, not Redis, guarantees a decision; re-sends are spaced out."""
    comment = submit(session, site, vault, settings)
    assert sweeper.sweep(session, settings) == []  # not stale yet
    later = utcnow() + dt.timedelta(seconds=settings.stale_after_seconds + 1)
    assert sweeper.sweep(session, settings, now=later) == [(tasknames.MODERATE, comment.id)]
    assert sweeper.sweep(session, settings, now=later) == []  # waits before re-sending again
    stale = dt.timedelta(seconds=settings.stale_after_seconds)
    # Each re-send waits longer: a long queue must not be multiplied by re-sends.
    assert sweeper.sweep(session, settings, now=later + stale + dt.timedelta(seconds=1)) == []
    again = later + 2 * stale + dt.timedelta(seconds=1)
    assert sweeper.sweep(session, settings, now=again) == [(tasknames.MODERATE, comment.id)]
    much_later = again + 10 * dt.timedelta(seconds=settings.stale_after_seconds + 1)
    assert sweeper.sweep(session, settings, now=much_later) == [(tasknames.MODERATE, comment.id)]
    session.commit()
    entry = session.scalar(select(OutboxEntry))
    assert entry is not None and entry.dispatches == 4
    assert comment.status is CommentStatus.PENDING  # a backlog never holds a comment


def test_poison_comment_is_held_after_max_attempts(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """C15: a comment whose moderation keeps crashing is held with a reason, not retried forever."""
    comment = submit(session, site, vault, settings)
    for _ in range(settings.max_attempts):
        assert moderation.begin_attempt(session, comment.id, max_attempts=settings.max_attempts)
        session.commit()  # the run "crashes" here, after its attempt was counted
    assert not moderation.begin_attempt(session, comment.id, max_attempts=settings.max_attempts)
    session.commit()
    assert comment.status is CommentStatus.HELD
    [decision] = decisions(session, comment.id)
    assert decision.decided_by == "system"
    assert f"failed {settings.max_attempts} times" in decision.reason
    assert session.scalar(select(func.count()).select_from(OutboxEntry)) == 0
    # A late duplicate message for it is a harmless no-op.
    assert moderation.begin_attempt(session, comment.id, max_attempts=settings.max_attempts)
    assert not moderation.moderate(session, comment.id, vault=vault).changed


def test_rolled_back_submission_publishes_nothing(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    published: list[tuple[str, int]],
) -> None:
    """C14: enqueue only after commit."""
    comments.submit(
        session,
        site,
        NewComment(thread="t", comment="x", name="n", email="n@example.org"),
        meta=SubmissionMeta(),
        vault=vault,
        settings=settings,
    )
    session.rollback()
    session.commit()
    assert published == []
    assert session.scalar(select(func.count()).select_from(Comment)) == 0
