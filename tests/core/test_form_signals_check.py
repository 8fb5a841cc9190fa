"""The `form_signals` check (R6, R7): honeypot → spam; bad, expired or too-fast token → held;
no signals → no opinion. Timing never rejects."""

from __future__ import annotations

from typing import Any

import pytest

from core.checks import Action, CheckContext, default_checks, run_pipeline
from core.checks.base import CommentFacts
from core.checks.formsignals import FormSignals
from core.classify.registry import default_classifiers


def facts(signals: dict[str, Any] | None) -> CommentFacts:
    return CommentFacts(
        body="Nice article.",
        author_name="Ann",
        email="ann@example.org",
        website=None,
        ip_truncated="203.0.113.0",
        ip_index=None,
        user_agent="Mozilla/5.0",
        form_signals=signals,
    )


def signals(state: str = "valid", seconds: float | None = 42.0, honeypot: bool = False) -> Any:
    return {"token": state, "seconds": seconds, "honeypot": honeypot}


@pytest.mark.parametrize(
    ("given", "action", "reason"),
    [
        (None, None, None),
        (signals(), None, None),
        (signals(seconds=3.0), None, None),
        (signals(honeypot=True), Action.SPAM, "honeypot"),
        (signals(state="missing", seconds=None, honeypot=True), Action.SPAM, "honeypot"),
        (signals(state="invalid", seconds=None), Action.HOLD, "not valid for this site"),
        (signals(state="expired", seconds=90_000.0), Action.HOLD, "expired"),
        (signals(seconds=1.23), Action.HOLD, "suspicious: posted 1.2 s after the form loaded"),
        (signals(seconds=0.0), Action.HOLD, "posted 0.0 s after"),
    ],
)
def test_verdicts(given: Any, action: Action | None, reason: str | None) -> None:
    verdict = FormSignals().run(facts(given), CheckContext(policy={}))
    if action is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict.action is action
        assert reason is not None and reason in verdict.reason


def test_the_site_policy_sets_the_minimum_time() -> None:
    strict = CheckContext(policy={"form_min_seconds": 10})
    relaxed = CheckContext(policy={"form_min_seconds": 0})
    assert FormSignals().run(facts(signals(seconds=5.0)), strict) is not None
    assert FormSignals().run(facts(signals(seconds=0.2)), relaxed) is None


def test_in_the_pipeline_a_filled_honeypot_is_spam_and_a_fast_form_only_held() -> None:
    ctx = CheckContext(policy={}, classifiers=default_classifiers())
    spam = run_pipeline(default_checks(), facts(signals(honeypot=True)), ctx)
    assert (spam.action, spam.decided_by) == (Action.SPAM, "check:form_signals")
    fast = run_pipeline(default_checks(), facts(signals(seconds=0.5)), ctx)
    assert fast.action is Action.HOLD
    assert run_pipeline(default_checks(), facts(None), ctx).action is Action.APPROVE
