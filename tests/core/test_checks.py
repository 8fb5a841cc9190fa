"""The first pipeline: WordPress's link count and word lists, with readable reasons."""

from __future__ import annotations

import pytest

from core.checks import Action, CheckContext, default_checks, run_pipeline
from core.checks.base import CheckUnavailable
from core.checks.links import MaxLinks
from core.checks.pipeline import check_names
from core.checks.words import DisallowedWords, ModerationWords
from core.classify.registry import default_classifiers
from core.privacy import PrivacyVault
from tests.support.facts import facts


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
        policy={"disallowed_words": ["viagra"], "moderation_words": ["viagra"], "max_links": 2},
        classifiers=default_classifiers(),
    )
    result = run_pipeline(
        default_checks(), facts("viagra https://a.example https://b.example"), ctx
    )
    assert result.action is Action.SPAM
    assert result.decided_by == "check:disallowed_words"
    assert [name for name, _ in result.verdicts] == check_names()
    said = {name: verdict for name, verdict in result.verdicts}
    assert said["disallowed_words"] and said["moderation_words"] and said["max_links"]
    assert said["author_banned"] is None and said["form_signals"] is None
    assert said["premoderation"] is None


def test_shadow_checks_are_recorded_but_never_decide() -> None:
    policy = {"disallowed_words": ["viagra"], "shadow_checks": ["disallowed_words"]}
    ctx = CheckContext(policy=policy, classifiers=default_classifiers())
    result = run_pipeline(default_checks(), facts("Cheap viagra, order today"), ctx)
    said = dict(result.verdicts)
    assert said["disallowed_words"] is not None
    assert said["disallowed_words"].action is Action.SPAM
    assert result.decided_by != "check:disallowed_words"
    assert result.shadow == frozenset({"disallowed_words"})
    live = CheckContext(policy={"disallowed_words": ["viagra"]}, classifiers=default_classifiers())
    assert run_pipeline(default_checks(), facts("Cheap viagra, order today"), live).action is (
        Action.SPAM
    )


def test_a_shadow_check_that_cannot_run_holds_nothing_but_an_acting_one_does() -> None:
    no_models = CheckContext(policy={"shadow_checks": ["spam_classifier", "toxicity"]})
    result = run_pipeline(default_checks(), facts(), no_models)
    assert result.action is Action.APPROVE
    assert dict(result.verdicts)["spam_classifier"] is None
    with pytest.raises(CheckUnavailable):
        run_pipeline(default_checks(), facts(), CheckContext(policy={}))


def test_pipeline_approves_when_nobody_objects() -> None:
    ctx = CheckContext(policy={}, classifiers=default_classifiers())
    result = run_pipeline(default_checks(), facts(), ctx)
    assert result.action is Action.APPROVE
    assert result.reason == "no check objected"
