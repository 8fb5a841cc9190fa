"""Signed form tokens (X2, R7): bound to site, thread and issue time; a signal, never a gate."""

from __future__ import annotations

import pytest

from core.formtoken import FormTokens, TokenState, form_signals

NOW = 1_750_000_000.0


@pytest.fixture
def tokens() -> FormTokens:
    return FormTokens("secret-one", max_age_seconds=3600)


def test_a_token_checks_out_for_its_site_and_thread_with_its_age(tokens: FormTokens) -> None:
    token = tokens.issue("gazette", "council-vote", now=NOW)
    check = tokens.check(token, "gazette", "council-vote", now=NOW + 4.25)
    assert check.state is TokenState.VALID
    assert check.seconds == pytest.approx(4.25, abs=0.001)


@pytest.mark.parametrize(
    ("site", "thread"),
    [("other", "council-vote"), ("gazette", "another-article"), ("gazett", "ecouncil-vote")],
)
def test_a_token_for_another_site_or_thread_is_invalid(
    tokens: FormTokens, site: str, thread: str
) -> None:
    """X2: a token from site A used on site B, or an edited thread, does not verify."""
    token = tokens.issue("gazette", "council-vote", now=NOW)
    assert tokens.check(token, site, thread, now=NOW + 10).state is TokenState.INVALID


def test_edited_forged_or_malformed_tokens_are_invalid(tokens: FormTokens) -> None:
    token = tokens.issue("gazette", "t", now=NOW)
    version, issued, mac = token.split(".")
    earlier = f"{version}.{int(issued) - 60_000}.{mac}"  # pretend the form is older
    other_key = FormTokens("secret-two", max_age_seconds=3600).issue("gazette", "t", now=NOW)
    for bad in [earlier, other_key, "", "v1", "v1.x.y", "v2." + token[3:], f"{token}.", token[:-2]]:
        assert tokens.check(bad, "gazette", "t", now=NOW + 5).state is TokenState.INVALID, bad


def test_old_tokens_expire_and_future_ones_are_forged(tokens: FormTokens) -> None:
    """R7: a form submitted long after it was loaded has an expired token."""
    token = tokens.issue("gazette", "t", now=NOW)
    expired = tokens.check(token, "gazette", "t", now=NOW + 3601)
    assert expired.state is TokenState.EXPIRED and expired.seconds == pytest.approx(3601)
    assert tokens.check(token, "gazette", "t", now=NOW + 3599).state is TokenState.VALID
    # A replica whose clock is a little behind still accepts it, as 0 s old...
    slightly_ahead = tokens.check(token, "gazette", "t", now=NOW - 5)
    assert slightly_ahead.state is TokenState.VALID and slightly_ahead.seconds == 0.0
    # ...but not a token "issued" far in the future.
    assert tokens.check(token, "gazette", "t", now=NOW - 600).state is TokenState.INVALID


def test_form_signals_are_stored_only_when_a_form_sent_something(tokens: FormTokens) -> None:
    assert form_signals(None, honeypot_filled=False) is None
    assert form_signals(None, honeypot_filled=True) == {
        "token": "missing",
        "seconds": None,
        "honeypot": True,
    }
    check = tokens.check(tokens.issue("s", "t", now=NOW), "s", "t", now=NOW + 4.24)
    assert form_signals(check, honeypot_filled=False) == {
        "token": "valid",
        "seconds": 4.2,
        "honeypot": False,
    }
