"""The history checks' decisions, fed by a MemoryHistory (no database needed)."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from core.checks.base import Action, CheckContext, CommentFacts
from core.checks.history import (
    POLICY_DEFAULTS,
    AuthorTrust,
    Flood,
    NearDuplicates,
    trust_level,
)
from core.history import AuthorRecord, MemoryHistory

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
SPAM = (
    "Earn 500 dollars a day from home with this simple trick that doctors and bankers hate, "
    "I made more last month than in a whole year at my old job, visit my profile to find "
    "out how it works and start today before they close it"
)
_ids = itertools.count(1)


def facts(
    body: str = "A thoughtful remark about the council's budget vote.",
    *,
    email: bytes | None = b"alice",
    ip: bytes | None = None,
    at: dt.timedelta = dt.timedelta(0),
    site: int = 1,
) -> CommentFacts:
    return CommentFacts(
        body=body,
        author_name="A",
        email="",
        website=None,
        ip_truncated=None,
        ip_index=ip,
        user_agent=None,
        site_id=site,
        comment_id=next(_ids),
        submitted_at=T0 + at,
        email_index=email,
    )


def ctx(history: MemoryHistory | None, **policy: int) -> CheckContext:
    return CheckContext(policy=dict(policy), history=history)


def remember(
    history: MemoryHistory, *comments: CommentFacts, action: Action = Action.APPROVE
) -> None:
    for comment in comments:
        history.remember(comment, action)


@pytest.mark.parametrize("check", [Flood(), NearDuplicates(), AuthorTrust()])
def test_no_history_no_opinion(check: Flood | NearDuplicates | AuthorTrust) -> None:
    assert check.run(facts(), ctx(None)) is None
    unstored = CommentFacts(
        body=SPAM,
        author_name="A",
        email="",
        website=None,
        ip_truncated=None,
        ip_index=None,
        user_agent=None,
    )
    assert check.run(unstored, ctx(MemoryHistory())) is None


def test_flood_holds_the_sixth_comment_from_one_email_within_ten_minutes() -> None:
    history = MemoryHistory()
    for minute in range(5):
        remember(history, facts(email=b"bob", at=dt.timedelta(minutes=minute)))
    assert Flood().run(facts(email=b"bob", at=dt.timedelta(minutes=5)), ctx(history)) is None
    remember(history, facts(email=b"bob", at=dt.timedelta(minutes=5)))
    verdict = Flood().run(facts(email=b"bob", at=dt.timedelta(minutes=6)), ctx(history))
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason == (
        "7 comments from this email address in the last 10 minutes (the site holds more than 6)"
    )
    # Outside the window, or another author: fine.
    assert Flood().run(facts(email=b"bob", at=dt.timedelta(minutes=30)), ctx(history)) is None
    assert Flood().run(facts(email=b"carol", at=dt.timedelta(minutes=6)), ctx(history)) is None


def test_flood_per_ip_and_site_wide_surge_follow_the_policy() -> None:
    history = MemoryHistory()
    for n in range(4):
        remember(history, facts(email=bytes([n]), ip=b"nat", at=dt.timedelta(seconds=n)))
    verdict = Flood().run(
        facts(email=b"new", ip=b"nat", at=dt.timedelta(seconds=9)),
        ctx(history, flood_max_per_ip=3, flood_window_minutes=60),
    )
    assert verdict is not None
    assert verdict.reason == (
        "5 comments from this IP address in the last hour (the site holds more than 3)"
    )
    surge = Flood().run(
        facts(email=b"new", at=dt.timedelta(seconds=9)), ctx(history, flood_max_per_site=2)
    )
    assert surge is not None and "on the whole site" in surge.reason
    assert (
        Flood().run(
            facts(email=b"new", ip=b"nat", at=dt.timedelta(seconds=9)),
            ctx(history, flood_max_per_ip=0),
        )
        is None
    )


def test_flood_relaxes_for_an_author_with_a_good_record() -> None:
    history = MemoryHistory()
    # Twenty approved comments over the past days, then five in ten minutes.
    for day in range(20):
        remember(history, facts(email=b"regular", at=dt.timedelta(days=-day - 1)))
    for minute in range(6):
        remember(history, facts(email=b"regular", at=dt.timedelta(minutes=minute)))
    trusted = Flood().run(facts(email=b"regular", at=dt.timedelta(minutes=7)), ctx(history))
    assert trusted is None  # 7 comments, allowance 6 x 1.8
    surge = Flood().run(
        facts(email=b"regular", at=dt.timedelta(minutes=7)), ctx(history, flood_max_per_site=3)
    )
    assert surge is None  # regulars are not held by a site-wide surge


def test_trusted_by_a_moderator_is_never_flooded() -> None:
    history = MemoryHistory()
    remember(history, *(facts(email=b"x", at=dt.timedelta(seconds=n)) for n in range(20)))
    trusted = CheckContext(history=history, author_standing="trust")
    assert Flood().run(facts(email=b"x", at=dt.timedelta(seconds=30)), trusted) is None


def test_one_other_author_with_the_same_text_holds() -> None:
    history = MemoryHistory()
    remember(history, facts(SPAM, email=b"one"))
    verdict = NearDuplicates().run(
        facts(SPAM.upper() + "!", email=b"two", at=dt.timedelta(hours=1)), ctx(history)
    )
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason == "the same text as 1 comment by another author in the last 7 days"


def test_four_other_authors_or_a_copy_of_spam_is_spam() -> None:
    history = MemoryHistory()
    remember(history, facts(SPAM, email=b"one"), facts(SPAM + " fast", email=b"two"))
    three = facts(SPAM, email=b"three", at=dt.timedelta(minutes=1))
    verdict = NearDuplicates().run(three, ctx(history))
    assert verdict is not None and verdict.action is Action.HOLD  # 2 others: held
    remember(history, facts(SPAM, email=b"four"), facts(SPAM, email=b"five"))
    verdict = NearDuplicates().run(
        facts(SPAM, email=b"six", at=dt.timedelta(minutes=1)), ctx(history)
    )
    assert verdict is not None and verdict.action is Action.SPAM
    assert verdict.reason.startswith("nearly the same text (≤")
    assert "as 4 comments by other authors in the last 7 days" in verdict.reason

    marked = MemoryHistory()
    marked.remember(facts(SPAM, email=b"one"), Action.SPAM)
    verdict = NearDuplicates().run(
        facts(SPAM, email=b"two", at=dt.timedelta(minutes=1)), ctx(marked)
    )
    assert verdict is not None and verdict.action is Action.SPAM
    assert verdict.reason == (
        "the same text as 1 comment by another author in the last 7 days (one already marked spam)"
    )


def test_the_same_author_repeating_themselves_is_not_a_duplicate() -> None:
    history = MemoryHistory()
    remember(history, facts(SPAM, email=b"one"), facts(SPAM, email=b"one"))
    assert (
        NearDuplicates().run(facts(SPAM, email=b"one", at=dt.timedelta(minutes=1)), ctx(history))
        is None
    )


def test_duplicates_outside_the_window_or_another_site_do_not_count() -> None:
    history = MemoryHistory()
    remember(
        history,
        facts(SPAM, email=b"one", at=dt.timedelta(days=-8)),
        facts(SPAM, email=b"two", site=2),
    )
    assert NearDuplicates().run(facts(SPAM, email=b"three"), ctx(history)) is None


def test_short_common_phrases_are_held_at_most_or_ignored() -> None:
    history = MemoryHistory()
    remember(history, *(facts("Thanks for this article", email=bytes([n])) for n in range(5)))
    remember(history, *(facts("Well said!", email=bytes([n])) for n in range(5)))
    verdict = NearDuplicates().run(
        facts("Thanks for this article!", email=b"me", at=dt.timedelta(1)), ctx(history)
    )
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason.endswith("held, not spam: fewer than 6 words")
    assert (
        NearDuplicates().run(facts("Well said!", email=b"me", at=dt.timedelta(1)), ctx(history))
        is None
    )


def test_unrelated_text_is_not_a_duplicate() -> None:
    history = MemoryHistory()
    remember(history, facts(SPAM, email=b"one"))
    assert (
        NearDuplicates().run(facts(email=b"two", at=dt.timedelta(minutes=1)), ctx(history)) is None
    )


def test_author_trust_approves_a_clean_record_and_holds_a_bad_one() -> None:
    history = MemoryHistory()
    remember(history, *(facts(email=b"good", at=dt.timedelta(days=-n)) for n in range(1, 6)))
    verdict = AuthorTrust().run(facts(email=b"good"), ctx(history))
    assert verdict is not None and verdict.action is Action.APPROVE
    assert verdict.reason == "5 earlier comments approved, none rejected or marked spam"
    assert verdict.score == pytest.approx(0.5)

    remember(history, facts(email=b"bad"), action=Action.SPAM)
    remember(history, facts(email=b"bad"), action=Action.REJECT)
    verdict = AuthorTrust().run(facts(email=b"bad", at=dt.timedelta(1)), ctx(history))
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason == "2 earlier comments rejected or marked spam, 0 approved"

    remember(history, facts(email=b"new"), facts(email=b"new"))
    assert AuthorTrust().run(facts(email=b"new", at=dt.timedelta(1)), ctx(history)) is None
    assert AuthorTrust().run(facts(email=b"bad"), ctx(history, trust_hold_after_bad=0)) is None


def test_trust_level() -> None:
    assert trust_level(AuthorRecord()) == 0
    assert trust_level(AuthorRecord(approved=5)) == 0.5
    assert trust_level(AuthorRecord(approved=20)) == 0.8
    assert trust_level(AuthorRecord(approved=10, spam=1)) == 0.5
    assert trust_level(AuthorRecord(approved=3, rejected=1)) == 0
    assert 0 <= trust_level(AuthorRecord(approved=10**6)) < 1


def test_policy_defaults_are_documented_and_integers() -> None:
    assert all(isinstance(value, int) for value in POLICY_DEFAULTS.values())
