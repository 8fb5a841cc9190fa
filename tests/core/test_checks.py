"""The first pipeline: WordPress's link count and word lists, with readable reasons."""

from __future__ import annotations

import pytest

from core.checks import Action, CheckContext, default_checks, run_pipeline
from core.checks.base import CommentFacts
from core.checks.links import MaxLinks
from core.checks.words import DisallowedWords, ModerationWords
from core.privacy import PrivacyVault


def facts(body: str = "Nice article.", **kw: object) -> CommentFacts:
    base: dict[str, object] = dict(
        body=body,
        author_name="Ann",
        email="ann@example.org",
        website=None,
        ip_truncated="203.0.113.0",
        ip_index=None,
        user_agent="Mozilla/5.0",
    )
    base.update(kw)
    return CommentFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "held"),
    [
        ("no links at all", False),
        ("one link https://a.example", False),
        ("two https://a.example and http://b.example", True),
        ('<a href="x">x</a> and www.spam-site.com', True),
    ],
)
def test_max_links_holds_at_two(body: str, held: bool) -> None:
    verdict = MaxLinks().run(facts(body), CheckContext(policy={"max_links": 2}))
    assert (verdict is not None and verdict.action is Action.HOLD) is held
    if verdict:
        assert "2 links" in verdict.reason


def test_word_lists_match_every_field_case_insensitively() -> None:
    ctx = CheckContext(policy={"disallowed_words": ["Casino"], "moderation_words": ["refund"]})
    spam = DisallowedWords().run(facts(website="https://best-CASINO.example"), ctx)
    assert spam is not None and spam.action is Action.SPAM
    assert spam.reason == 'disallowed word: "Casino" in the website'
    held = ModerationWords().run(facts(author_name="Refund Desk"), ctx)
    assert held is not None and held.reason == 'moderation word: "refund" in the name'
    assert DisallowedWords().run(facts(email="me@casino.example"), ctx) is not None
    assert ModerationWords().run(facts(user_agent="RefundBot/1.0"), ctx) is not None
    assert DisallowedWords().run(facts(), ctx) is None


def test_ip_entries_match_by_blind_index_or_prefix(vault: PrivacyVault) -> None:
    ctx = CheckContext(policy={"disallowed_words": ["203.0.113.77"]}, ip_index_of=vault.ip_index)
    hit = DisallowedWords().run(facts(ip_index=vault.ip_index("203.0.113.77")), ctx)
    assert hit is not None and "IP address" in hit.reason
    assert DisallowedWords().run(facts(ip_index=vault.ip_index("203.0.113.78")), ctx) is None
    prefix = CheckContext(policy={"moderation_words": ["203.0.113."]})
    assert ModerationWords().run(facts(), prefix) is not None


def test_pipeline_most_severe_wins_and_every_verdict_is_kept() -> None:
    ctx = CheckContext(
        policy={"disallowed_words": ["viagra"], "moderation_words": ["viagra"], "max_links": 2}
    )
    result = run_pipeline(
        default_checks(), facts("viagra https://a.example https://b.example"), ctx
    )
    assert result.action is Action.SPAM
    assert result.decided_by == "check:disallowed_words"
    assert [name for name, _ in result.verdicts] == [
        "author_banned",
        "form_signals",
        "disallowed_words",
        "moderation_words",
        "max_links",
        "premoderation",
    ]
    assert all(v is not None for _, v in result.verdicts[2:5])
    assert result.verdicts[0][1] is None and result.verdicts[1][1] is None
    assert result.verdicts[5][1] is None


def test_pipeline_approves_when_nobody_objects() -> None:
    result = run_pipeline(default_checks(), facts(), CheckContext(policy={}))
    assert result.action is Action.APPROVE
    assert result.reason == "no check objected"
