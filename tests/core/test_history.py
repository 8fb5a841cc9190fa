"""DatabaseHistory on PostgreSQL and SQLite: fingerprints stored at submit, counts, near-
duplicates and author records that leave out the comment being decided, the checks wired
through moderation.context_for, and MemoryHistory agreeing with it on the same sequence."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from core import moderation
from core.checks.base import Action
from core.checks.history import AuthorTrust, Flood, NearDuplicates
from core.config import Settings
from core.history import DatabaseHistory, MemoryHistory, signature_of
from core.privacy import PrivacyVault
from core.text.fingerprint import bands, fingerprint_body
from models import Comment, CommentStatus, Site
from tests.support.moderation import submitted

SPAM = (
    "Earn 500 dollars a day from home with this simple trick that doctors and bankers hate, "
    "I made more last month than in a whole year at my old job, visit my profile to find "
    "out how it works and start today before they close it"
)
ACTION_FOR_STATUS = {
    CommentStatus.APPROVED: Action.APPROVE,
    CommentStatus.HELD: Action.HOLD,
    CommentStatus.REJECTED: Action.REJECT,
    CommentStatus.SPAM: Action.SPAM,
}
WINDOW = dt.timedelta(days=7)


def set_status(session: Session, comment: Comment, status: CommentStatus) -> None:
    session.execute(update(Comment).where(Comment.id == comment.id).values(status=status))
    session.commit()
    session.refresh(comment)


def test_submit_stores_the_fingerprint_and_its_bands(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    long = submitted(session, site, vault, settings, body=SPAM)
    short = submitted(session, site, vault, settings, body="Well said!")
    fingerprint = fingerprint_body(SPAM)
    assert fingerprint is not None
    assert long.simhash == fingerprint
    assert (long.simhash_b0, long.simhash_b1, long.simhash_b2, long.simhash_b3) == bands(
        fingerprint
    )
    session.expire_all()
    stored = session.get(Comment, long.id)
    assert stored is not None and stored.simhash == fingerprint  # a BIGINT round trip
    assert short.simhash is None and short.simhash_b0 is None


def test_counts_leave_out_the_comment_being_decided(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    made = [
        submitted(session, site, vault, settings, email="same@example.org", ip="203.0.113.9")
        for _ in range(3)
    ]
    other = submitted(session, site, vault, settings, ip="203.0.113.9")
    last = made[-1]
    history = DatabaseHistory(session, exclude_id=last.id)
    counts = history.count_since(
        site_id=site.id,
        since=last.submitted_at - dt.timedelta(minutes=10),
        until=last.submitted_at,
        whole_site=True,
        ip_index=last.ip_index,
        email_index=last.email_index,
    )
    # `other` came after `last`: not in its window.
    assert (counts.site, counts.ip, counts.email) == (2, 2, 2)
    later = DatabaseHistory(session, exclude_id=other.id).count_since(
        site_id=site.id,
        since=other.submitted_at - dt.timedelta(minutes=10),
        until=other.submitted_at,
        ip_index=other.ip_index,
        cap=2,
    )
    assert (later.site, later.ip, later.email) == (None, 2, None)  # 3, capped at 2


def test_near_duplicates_other_authors_same_site_with_their_status(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    first = submitted(session, site, vault, settings, body=SPAM, email="one@example.org")
    set_status(session, first, CommentStatus.SPAM)
    submitted(session, site, vault, settings, body=SPAM + " fast", email="two@example.org")
    submitted(session, site, vault, settings, body=SPAM, email="me@example.org", thread="other")
    submitted(session, site, vault, settings, body="Something else entirely, said here.")
    mine = submitted(session, site, vault, settings, body=SPAM, email="me@example.org")
    signature = signature_of(moderation.facts_for(mine, vault))
    matches = DatabaseHistory(session, exclude_id=mine.id).near_duplicates(
        site_id=site.id,
        fingerprint=signature.fingerprint,
        body_hash=signature.body_hash,
        exclude_email_index=mine.email_index,
        since=mine.submitted_at - WINDOW,
        until=mine.submitted_at,
    )
    assert [(m.comment_id, m.status, m.same_body) for m in matches][::-1] == [
        (first.id, "spam", True),
        (first.id + 1, "pending", False),
    ]
    assert 0 < matches[0].distance <= 3


def test_author_record_counts_decided_comments(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    email = "regular@example.org"
    comments = [submitted(session, site, vault, settings, email=email) for _ in range(5)]
    for comment, status in zip(
        comments,
        [CommentStatus.APPROVED, CommentStatus.APPROVED, CommentStatus.HELD, CommentStatus.SPAM],
        strict=False,
    ):
        set_status(session, comment, status)
    record = DatabaseHistory(session, exclude_id=comments[-1].id).author_record(
        site.id, comments[0].email_index
    )
    assert (record.approved, record.held, record.rejected, record.spam) == (2, 1, 0, 1)


def test_checks_get_the_database_history_from_context_for(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    for name in ("one", "two", "three", "four"):
        submitted(session, site, vault, settings, body=SPAM, email=f"{name}@example.org")
    mine = submitted(session, site, vault, settings, body=SPAM, email="five@example.org")
    facts = moderation.facts_for(mine, vault)
    ctx = moderation.context_for(session, site, facts, vault=vault)
    verdict = NearDuplicates().run(facts, ctx)
    assert verdict is not None and verdict.action is Action.SPAM
    assert verdict.reason == "the same text as 4 comments by other authors in the last 7 days"
    assert Flood().run(facts, ctx) is None
    assert AuthorTrust().run(facts, ctx) is None


def test_memory_history_agrees_with_the_database(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """The same comments, in the same order, with the same outcomes: the same answers."""
    plan = [
        (SPAM, "a@example.org", "198.51.100.1", CommentStatus.APPROVED),
        (SPAM + " fast", "b@example.org", "198.51.100.1", CommentStatus.SPAM),
        (
            "A calm reply about the parks budget and the bus pilot.",
            "a@example.org",
            None,
            CommentStatus.APPROVED,
        ),
        (SPAM, "c@example.org", "198.51.100.2", CommentStatus.HELD),
        ("Short one", "a@example.org", "198.51.100.1", CommentStatus.REJECTED),
        (SPAM.upper(), "d@example.org", "198.51.100.1", CommentStatus.APPROVED),
        (
            "A calm reply about the parks budget and the bus pilot!",
            "e@example.org",
            None,
            CommentStatus.APPROVED,
        ),
        (SPAM, "a@example.org", "198.51.100.3", CommentStatus.APPROVED),
    ]
    memory = MemoryHistory()
    for n, (body, email, ip, status) in enumerate(plan):
        comment = submitted(
            session, site, vault, settings, body=body, email=email, ip=ip, thread=f"t{n}"
        )
        facts = moderation.facts_for(comment, vault)
        database = DatabaseHistory(session, exclude_id=comment.id)
        signature = signature_of(facts)
        answers = []
        for view in (database, memory):
            answers.append(
                (
                    view.count_since(
                        site_id=site.id,
                        since=comment.submitted_at - dt.timedelta(minutes=10),
                        until=comment.submitted_at,
                        whole_site=True,
                        ip_index=comment.ip_index,
                        email_index=comment.email_index,
                    ),
                    view.near_duplicates(
                        site_id=site.id,
                        fingerprint=signature.fingerprint,
                        body_hash=signature.body_hash,
                        exclude_email_index=comment.email_index,
                        since=comment.submitted_at - WINDOW,
                        until=comment.submitted_at,
                    ),
                    view.author_record(site.id, comment.email_index),
                )
            )
        assert answers[0] == answers[1], body
        set_status(session, comment, status)
        memory.remember(facts, ACTION_FOR_STATUS[status])
    assert answers[0][1], "the last comment has near-duplicates"
    assert answers[0][2].approved == 2 and answers[0][2].rejected == 1
