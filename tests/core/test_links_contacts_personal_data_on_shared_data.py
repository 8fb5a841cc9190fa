"""False-positive guard rails on real data (shared/data, never copied into the repo).

Legitimate comments: YouTube ham (CLASS 0, 951 rows), SMS ham (4,827) and the Civil
Comments news comments (16,100; toxic or not, none is spam). Each content check must fire
on under 0.5% of each corpus. Measured when written (fires / rows):

| check            | YouTube ham | SMS ham     | Civil       |
| ---------------- | ----------- | ----------- | ----------- |
| links            | 0           | 0           | 2 (0.01%)   |
| max_links        | 2 (0.21%)   | 0           | 13 (0.08%)  |
| contacts         | 0           | 1 (0.02%)   | 1 (0.01%)   |
| personal_data    | 0           | 3 (0.06%)   | 1 (0.01%)   |
| disallowed_words | 0           | 0           | 0           |  (empty list)

and the link and contact checks together catch a measured share of spam:
YouTube spam (CLASS 1) 3.9%, 39 of 1,005 (mostly single plain links and "check out my channel",
which are not these checks' business), SMS spam 45%, 336 of 747 (contact numbers).

Only counts are asserted and reported; no comment text is ever printed.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from core.checks import Check, CheckContext
from core.checks.base import CommentFacts
from core.checks.contacts import ContactHandles
from core.checks.links import LinkReputation, MaxLinks
from core.checks.personal_data import PersonalData
from core.checks.words import DisallowedWords
from tests.support.shared_data import civil_comments, sms_messages, youtube_comments

CONTEXT = CheckContext(policy={"max_links": 2, "disallowed_words": [], "blocked_domains": []})
CHECKS: list[Check] = [
    LinkReputation(),
    MaxLinks(),
    ContactHandles(),
    PersonalData(),
    DisallowedWords(),
]
HAM_LIMIT = 0.005


def _facts(body: str) -> CommentFacts:
    return CommentFacts(
        body=body,
        author_name="Reader",
        email="reader@example.org",
        website=None,
        ip_truncated=None,
        ip_index=None,
        user_agent=None,
    )


def _fire_rates(texts: Iterable[str], checks: list[Check]) -> tuple[int, dict[str, int], int]:
    """(rows, fires per check, rows on which any check fired)."""
    rows = 0
    fires = {check.name: 0 for check in checks}
    any_fired = 0
    for text in texts:
        rows += 1
        comment = _facts(text)
        fired = False
        for check in checks:
            if check.run(comment, CONTEXT) is not None:
                fires[check.name] += 1
                fired = True
        any_fired += fired
    return rows, fires, any_fired


@pytest.mark.parametrize(
    "corpus",
    ["youtube_ham", "sms_ham", "civil_comments"],
)
def test_content_checks_rarely_fire_on_legitimate_comments(corpus: str) -> None:
    texts = {
        "youtube_ham": lambda: youtube_comments(spam=False),
        "sms_ham": lambda: sms_messages(spam=False),
        "civil_comments": civil_comments,
    }[corpus]()
    rows, fires, _ = _fire_rates(texts, CHECKS)
    assert rows > 900
    rates = {name: count / rows for name, count in fires.items()}
    too_often = {name: f"{rate:.2%}" for name, rate in rates.items() if rate >= HAM_LIMIT}
    assert not too_often, f"{corpus}: fired on too many of {rows} legitimate comments"
    assert fires["disallowed_words"] == 0  # an empty list never matches


@pytest.mark.parametrize(
    ("corpus", "floor"),
    [("youtube_spam", 0.035), ("sms_spam", 0.40)],
)
def test_link_and_contact_checks_catch_spam(corpus: str, floor: float) -> None:
    texts = youtube_comments(spam=True) if corpus == "youtube_spam" else sms_messages(spam=True)
    checks: list[Check] = [LinkReputation(), MaxLinks(), ContactHandles()]
    rows, _, caught = _fire_rates(texts, checks)
    assert rows > 700
    assert caught / rows >= floor, f"{corpus}: caught {caught} of {rows}"
