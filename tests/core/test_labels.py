"""Training labels: each moderator decision records what it says about the text, in the same
transaction; system decisions record nothing; the newest label of a comment wins."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import labels, moderation, review
from core.access import Principal
from core.config import Settings
from core.errors import DecisionConflict
from core.privacy import PrivacyVault
from core.review import ReviewAction
from models import CommentStatus, Role, Site, TrainingLabel
from tests.support.moderation import decided, held, submitted

MODERATOR = Principal(actor="moderator:12", name="Mo", roles={})
TOKEN = Principal(actor="token:3", name="API token", roles={})


def all_labels(session: Session, site: Site) -> list[TrainingLabel]:
    query = select(TrainingLabel).where(TrainingLabel.site_id == site.id)
    return list(session.scalars(query.order_by(TrainingLabel.id)))


@pytest.mark.parametrize(
    ("before", "after", "label"),
    [
        ("held", "approved", "ham"),
        ("pending", "approved", "ham"),
        ("spam", "approved", "ham"),  # "not spam"
        ("held", "spam", "spam"),
        ("approved", "spam", "spam"),
        ("held", "rejected", "abuse"),
        ("approved", "rejected", "abuse"),
        ("approved", "held", None),
        ("held", "deleted", None),
        ("spam", "deleted", None),
        ("approved", "approved", None),
    ],
)
def test_label_for_each_transition(before: str, after: str, label: str | None) -> None:
    assert labels.label_for_transition(before, after) == label
    assert labels.label_for_transition(CommentStatus(before), CommentStatus(after)) == label


@pytest.mark.parametrize(
    ("action", "label"),
    [
        (ReviewAction.APPROVE, "ham"),
        (ReviewAction.SPAM, "spam"),
        (ReviewAction.REJECT, "abuse"),
        (ReviewAction.DELETE, None),
    ],
)
def test_a_moderator_decision_records_its_label_with_the_text(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    action: ReviewAction,
    label: str | None,
) -> None:
    comment = held(session, site, vault, settings, email="private.person@example.org")
    review.decide(session, site.id, comment.id, action, MODERATOR)
    session.commit()
    rows = all_labels(session, site)
    if label is None:
        assert rows == []
        return
    [row] = rows
    assert (row.label, row.comment_id, row.source, row.body) == (
        label,
        comment.id,
        "moderator:12",
        comment.body,
    )
    # Only the text: nothing that identifies the commenter.
    stored = " ".join(str(v) for v in vars(row).values())
    assert "private.person" not in stored and "198.51." not in stored


def test_not_spam_is_a_ham_label_and_the_newest_label_wins(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = held(session, site, vault, settings)
    review.decide(session, site.id, comment.id, ReviewAction.SPAM, MODERATOR)
    session.commit()
    review.decide(session, site.id, comment.id, ReviewAction.HAM, TOKEN)
    session.commit()
    history = all_labels(session, site)
    assert [(r.label, r.source) for r in history] == [("spam", "moderator:12"), ("ham", "token:3")]
    current = labels.labels_for_site(session, site.id, limit=100)
    assert [(r.comment_id, r.label) for r in current] == [(comment.id, "ham")]
    assert labels.count_new_labels(session, site.id, 0) == 1
    # Read after the first label: the comment's current (newest) label is new.
    assert [
        r.label for r in labels.labels_for_site(session, site.id, since_id=history[0].id, limit=100)
    ] == ["ham"]
    assert labels.count_new_labels(session, site.id, history[1].id) == 0


def test_bulk_decisions_record_one_label_per_decided_comment(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    first = held(session, site, vault, settings)
    second = held(session, site, vault, settings)
    already_spam = held(session, site, vault, settings)
    review.decide(session, site.id, already_spam.id, ReviewAction.SPAM, MODERATOR)
    session.commit()
    result = review.decide_many(
        session,
        site.id,
        [first.id, second.id, already_spam.id, 987654321],
        ReviewAction.SPAM,
        TOKEN,
    )
    session.commit()
    assert sorted(c.id for c in result.decided) == sorted([first.id, second.id])
    assert set(result.failed) == {already_spam.id, 987654321}
    rows = [(r.comment_id, r.label, r.source) for r in all_labels(session, site)]
    assert rows == [
        (already_spam.id, "spam", "moderator:12"),
        (first.id, "spam", "token:3"),
        (second.id, "spam", "token:3"),
    ]


def test_a_refused_decision_records_no_label(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = held(session, site, vault, settings)
    with pytest.raises(DecisionConflict):
        review.decide(
            session,
            site.id,
            comment.id,
            ReviewAction.APPROVE,
            MODERATOR,
            expected=CommentStatus.SPAM,
        )
    session.rollback()
    assert all_labels(session, site) == []


def test_system_decisions_record_no_label(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    approved = decided(session, site, vault, settings)  # the pipeline approves
    assert approved.status is CommentStatus.APPROVED
    held(session, site, vault, settings)  # the pipeline holds
    stuck = submitted(session, site, vault, settings)
    moderation.hold_for_human(session, stuck.id, "the worker kept crashing")
    session.commit()
    assert all_labels(session, site) == []


def test_a_reply_as_the_site_is_not_a_label(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    parent = decided(session, site, vault, settings)
    principal = Principal(actor="moderator:12", name="Mo", roles={site.id: Role.MODERATOR})
    review.reply_as_site(session, site, parent.id, "Thanks for reading.", principal, vault=vault)
    session.commit()
    assert all_labels(session, site) == []


def test_akismet_labels_have_no_comment_and_each_counts(session: Session, site: Site) -> None:
    for label in ("spam", "spam", "ham"):
        labels.record_label(
            session,
            site_id=site.id,
            body=f"text {label}",
            label=label,
            source="akismet:token:3",
        )
    session.commit()
    current = labels.labels_for_site(session, site.id, limit=2)
    assert [(r.comment_id, r.label) for r in current] == [(None, "spam"), (None, "spam")]
    rest = labels.labels_for_site(session, site.id, since_id=current[-1].id, limit=2)
    assert [r.label for r in rest] == ["ham"]
    assert labels.count_new_labels(session, site.id, 0) == 3
    with pytest.raises(ValueError, match="unknown label"):
        labels.record_label(session, site_id=site.id, body="x", label="toxic", source="s")


def test_labels_are_per_site(session: Session, site: Site) -> None:
    other = Site(key="other-site", name="Other")
    session.add(other)
    session.flush()
    labels.record_label(session, site_id=other.id, body="b", label="ham", source="token:9")
    session.commit()
    assert labels.labels_for_site(session, site.id, limit=10) == []
    assert session.scalar(select(func.count()).select_from(TrainingLabel)) >= 1
