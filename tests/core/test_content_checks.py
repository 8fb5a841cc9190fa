"""Content checks: word lists on normalised text, link reputation, contacts, personal data."""

from __future__ import annotations

import pytest

from core.checks import Action, CheckContext
from core.checks.contacts import ContactHandles
from core.checks.links import LinkReputation, MaxLinks, find_links
from core.checks.personal_data import PersonalData
from core.checks.words import DisallowedWords, ModerationWords
from tests.support.facts import facts

NO_POLICY = CheckContext(policy={})


# --- word lists --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("best с4sino in town", "с4sino"),
        ("CASINO", None),
        ("try our c*sino", "c*sino"),
        ("ｃａｓｉｎｏ bonus", "ｃａｓｉｎｏ"),
        ("ca\u200bsino", "ca\u200bsino"),
        ("caaaasino", "caaaasino"),
    ],
)
def test_word_lists_see_through_disguises(body: str, written: str | None) -> None:
    ctx = CheckContext(policy={"disallowed_words": ["casino"]})
    verdict = DisallowedWords().run(facts(body), ctx)
    assert verdict is not None and verdict.action is Action.SPAM
    if written is None:
        assert verdict.reason == 'disallowed word: "casino" in the comment'
    else:
        assert verdict.reason == f'disallowed word: "casino" in the comment (written "{written}")'
        start, end = verdict.spans[0]
        assert body[start:end] == written


def test_word_lists_masked_and_elongated_profanity_is_held() -> None:
    ctx = CheckContext(policy={"moderation_words": ["fuck", "shit"]})
    for body in ("what the f**k", "s#it happens", "fuuuuuck this", "sh!t"):
        assert ModerationWords().run(facts(body), ctx) is not None, body
    for body in ("what the duck", "shirt", "f***"):
        assert ModerationWords().run(facts(body), ctx) is None, body


def test_word_lists_normalise_the_name_and_leave_numbers_alone() -> None:
    ctx = CheckContext(policy={"disallowed_words": ["viagra", "2024"]})
    verdict = DisallowedWords().run(facts(author_name="V1agra Shop"), ctx)
    assert verdict is not None and verdict.reason.endswith('in the name (written "V1agra")')
    assert verdict.spans == ()
    assert DisallowedWords().run(facts("see you in 2024"), ctx) is not None
    assert DisallowedWords().run(facts("see you in 2O24"), ctx) is None


def test_empty_word_lists_never_fire() -> None:
    assert DisallowedWords().run(facts("c4sino f**k"), NO_POLICY) is None


# --- links -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "e.g. the U.S. and Mr. Smith said 3.5 percent of Node.js users",
        "the dot com bubble",
        "I live in the U.K. It is fine.",
        "end of the day. net result",
        "ASP.NET and version 2.0",
        "one link https://a.example",
    ],
)
def test_no_link_opinion_on_ordinary_prose(body: str) -> None:
    assert LinkReputation().run(facts(body), NO_POLICY) is None


@pytest.mark.parametrize(
    ("body", "spanned"),
    [
        ("go to example[dot]com", "example[dot]com"),
        ("visit example (dot) com", "example (dot) com"),
        ("see example dot com/path", "example dot com/path"),
        ("hxxp://evil.example.com/x, ok", "hxxp://evil.example.com/x"),
        ("w w w . example . com", "w w w . example . com"),
        ("bad site . com here", "site . com"),
    ],
)
def test_dodged_links_are_held(body: str, spanned: str) -> None:
    verdict = LinkReputation().run(facts(body), NO_POLICY)
    assert verdict is not None and verdict.action is Action.HOLD
    assert "dodge link filters" in verdict.reason
    (start, end) = verdict.spans[0]
    assert body[start:end] == spanned


def test_shorteners_are_held_with_the_link_in_the_reason() -> None:
    body = "free stuff at bit.ly/abc123."
    verdict = LinkReputation().run(facts(body), NO_POLICY)
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason == "shortened link bit.ly/abc123 hides where it goes"
    assert [body[s:e] for s, e in verdict.spans] == ["bit.ly/abc123"]
    site = LinkReputation().run(facts(website="https://tinyurl.com/x"), NO_POLICY)
    assert site is not None and site.action is Action.HOLD and "website" in site.reason
    # A pasted tweet's t.co link is Twitter's own wrapping, not a disguise.
    assert LinkReputation().run(facts("as tweeted: https://t.co/AbC123"), NO_POLICY) is None


def test_blocked_domains_and_their_subdomains_are_spam() -> None:
    ctx = CheckContext(policy={"blocked_domains": ["spam.example"], "max_links": 2})
    for body in ("see https://spam.example/x", "www.shop.spam.example", "http://spаm.example"):
        verdict = LinkReputation().run(facts(body), ctx)
        assert verdict is not None and verdict.action is Action.SPAM, body
        assert "blocked domain spam.example" in verdict.reason
    website = LinkReputation().run(facts(website="http://www.spam.example/me"), ctx)
    assert website is not None and website.action is Action.SPAM
    assert LinkReputation().run(facts("notspam.example.org"), ctx) is None
    allowed = CheckContext(policy={"allowed_domains": ["bit.ly"]})
    assert LinkReputation().run(facts("bit.ly/x"), allowed) is None


def test_look_alike_and_punycode_hosts() -> None:
    mixed = LinkReputation().run(facts("log in at pаypal.com now"), NO_POLICY)
    assert mixed is not None and mixed.action is Action.SPAM
    assert "Cyrillic and Latin" in mixed.reason and mixed.spans == ((10, 20),)
    all_cyrillic = LinkReputation().run(facts("visit http://рае.com"), NO_POLICY)
    assert all_cyrillic is not None and "look-alike letters to pass for pae.com" in (
        all_cyrillic.reason
    )
    puny = LinkReputation().run(facts("http://xn--pypal-4ve.com"), NO_POLICY)
    assert puny is not None and puny.action is Action.SPAM and "punycode" in puny.reason
    idn = LinkReputation().run(facts("https://xn--mnchen-3ya.de"), NO_POLICY)
    assert idn is not None and idn.action is Action.HOLD and "münchen.de" in idn.reason
    assert LinkReputation().run(facts("https://münchen.de"), NO_POLICY) is None


def test_trusted_authors_keep_only_spam_findings() -> None:
    trusted = CheckContext(policy={"blocked_domains": ["spam.example"]}, author_standing="trust")
    assert LinkReputation().run(facts("bit.ly/x"), trusted) is None
    assert LinkReputation().run(facts("https://spam.example"), trusted) is not None


def test_max_links_counts_dodged_links_once_each() -> None:
    ctx = CheckContext(policy={"max_links": 2})
    verdict = MaxLinks().run(facts("go to example[dot]com and hxxp://x.com"), ctx)
    assert verdict is not None and verdict.reason.startswith("2 links in the comment, 2 written")
    one = MaxLinks().run(facts("see http://www.example.com/page"), ctx)
    assert one is None  # http:// and www. of one URL are one link
    assert [link.host for link in find_links("ab.com, cd.org and U.S.")] == ["ab.com", "cd.org"]


# --- contacts ----------------------------------------------------------------------------


def test_contact_handles_are_held() -> None:
    body = "Contact him on WhatsApp +1 555 123 4567 for details"
    verdict = ContactHandles().run(facts(body), NO_POLICY)
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason == "asks readers to contact +1 555 123 4567 on WhatsApp"
    assert [body[s:e] for s, e in verdict.spans] == ["+1 555 123 4567"]
    for body in ("join t.me/cryptoguru", "wa.me/15551234567", "email him at x@example.org"):
        assert ContactHandles().run(facts(body), NO_POLICY) is not None, body


def test_contact_with_scam_talk_is_spam_even_when_disguised() -> None:
    body = "I w4s sc4mmed until Dr. X recovered my funds. Wh4tsАpp: +44 20 7946 0958"
    verdict = ContactHandles().run(facts(body), NO_POLICY)
    assert verdict is not None and verdict.action is Action.SPAM
    assert "on WhatsApp" in verdict.reason and "scam talk" in verdict.reason
    tg = ContactHandles().run(facts("Telegram @recoverypro, b1tcoin recovery"), NO_POLICY)
    assert tg is not None and tg.action is Action.SPAM and "@recoverypro on Telegram" in tg.reason


@pytest.mark.parametrize(
    "body",
    [
        "I love signal processing since 2014-2015",
        "hey @john great point",
        "the vote was 5-4",
        "call it what you want",
        "look at google.com",
    ],
)
def test_no_contact_opinion_on_ordinary_prose(body: str) -> None:
    assert ContactHandles().run(facts(body), NO_POLICY) is None


# --- personal data -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("his number is 555-123-4567", "555-123-4567"),
        ("ring +44 20 7946 0958", "+44 20 7946 0958"),
        ("(555) 123-4567", "(555) 123-4567"),
        ("06 12 34 56 78", "06 12 34 56 78"),
        ("030 1234567", "030 1234567"),
        ("she lives at 123 Main Street", "123 Main Street"),
        ("42 Elm Ave Apt 5", "42 Elm Ave Apt 5"),
        ("write to jane.doe@example.org", "jane.doe@example.org"),
    ],
)
def test_personal_data_is_held_with_spans(body: str, found: str) -> None:
    verdict = PersonalData().run(facts(body), NO_POLICY)
    assert verdict is not None and verdict.action is Action.HOLD
    assert verdict.reason.startswith("the comment contains what looks like ")
    assert found in [body[s:e] for s, e in verdict.spans]


@pytest.mark.parametrize(
    "body",
    [
        "In 2024 about 10 people paid $5,000,000",
        "3.5 percent, 45.5% and 1 000 000 votes",
        "from 2014-2015 and on 2024-01-05 or 01.05.2023",
        "a population of 330000000",
        "the 9 Supreme Court justices",
        "server 192.168.1.1",
        "ISBN 978-3-16-148410-0",
    ],
)
def test_no_personal_data_in_numbers_that_are_not_phones(body: str) -> None:
    assert PersonalData().run(facts(body), NO_POLICY) is None


def test_personal_data_score_grows_with_kinds() -> None:
    one = PersonalData().run(facts("call 555-123-4567"), NO_POLICY)
    two = PersonalData().run(facts("123 Main Street, call 555-123-4567"), NO_POLICY)
    assert one is not None and two is not None and two.score > one.score
