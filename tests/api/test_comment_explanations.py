"""A held comment explains itself, on PostgreSQL and SQLite: the detail API and the comment
page list every check of every decision in human words with its verdict, score and reason,
objections first, shadow-mode verdicts labelled as not acted on, and the flagged passages
marked in the text (overlaps merged, everything escaped). The comments are decided by the
real pipeline (core.moderation.moderate) with the shipped classifiers."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy.orm import Session

from core import passwords
from core.checks.pipeline import check_names
from core.config import Settings
from core.privacy import PrivacyVault
from core.queue import CHECK_LABELS, CheckView, Segment, highlight_segments
from models import Comment, CommentStatus, Role, Site
from tests.support.moderation import PASSWORD, decided, moderator, token

API = "/api/v1/sites/gazette/moderation"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SCRIPT = '<script>alert("owned")</script>'
INSULT = "you are an idiot and a moron"
# Held by the moderation word; toxicity runs in shadow mode and flags two words.
SHADOWED_BODY = f"{SCRIPT} heldword: {INSULT}"
# Every content check with spans objects, and "idiot and" overlaps "idiot".
SPANS_BODY = (
    "Cheap pills at https://bit.ly/3xYzAbc now, message me on telegram @pillseller99 or "
    "whatsapp +1 415 555 0199, my email is bob.smith@example.org. You are an idiot and a moron."
)


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests are about the explanations, not the hash."""
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def with_policy(session: Session, site: Site, **policy: Any) -> None:
    site.policy = {**(site.policy or {}), **policy}
    session.commit()


def shadowed(session: Session, site: Site, vault: PrivacyVault, settings: Settings) -> Comment:
    """A comment held by a moderation word, with toxicity objecting in shadow mode."""
    with_policy(
        session,
        site,
        moderation_words=["heldword"],
        toxicity_hold_at=0.3,
        shadow_checks=["toxicity"],
    )
    comment = decided(session, site, vault, settings, body=SHADOWED_BODY)
    assert comment.status is CommentStatus.HELD
    return comment


def detail_of(client: FlaskClient, session: Session, site: Site, comment: Comment) -> Any:
    response = client.get(f"{API}/comments/{comment.id}", headers=token(session, site, Role.VIEWER))
    assert response.status_code == 200
    return response.get_json()


def page_of(client: FlaskClient, session: Session, site: Site, comment: Comment) -> str:
    """The comment's page, for a logged-in moderator."""
    email = "mod@example.org"
    moderator(session, site, Role.MODERATOR, email)
    found = TOKEN_RE.search(client.get("/moderation/login").get_data(as_text=True))
    assert found
    login = client.post(
        "/moderation/login",
        data={"email": email, "password": PASSWORD, "csrf_token": found.group(1)},
    )
    assert login.status_code == 303
    response = client.get(f"/moderation/gazette/comments/{comment.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def body_html(page: str) -> str:
    found = re.search(r'<div class="comment-body" id="comment-body">(.*?)</div>', page, re.S)
    assert found
    return found.group(1)


def rows(page: str) -> list[str]:
    """The check rows of the page's tables, in order."""
    return re.findall(r'<tr class="[^"]*" data-check="[a-z_]+">.*?</tr>', page, re.S)


# -- the detail API --------------------------------------------------------------------------


def test_api_lists_every_check_objections_first_with_the_shadow_flag(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = shadowed(session, site, vault, settings)
    detail = detail_of(client, session, site, comment)
    [decision] = detail["decisions"]
    checks = decision["checks"]
    assert sorted(c["check"] for c in checks) == sorted(check_names())
    assert [c["position"] for c in checks if c["verdict"] is None] == sorted(
        c["position"] for c in checks if c["verdict"] is None
    )
    words, toxicity = checks[0], checks[1]
    assert words["check"] == "moderation_words" and words["label"] == "Moderation word list"
    assert (words["verdict"], words["objected"], words["shadow"]) == ("hold", True, False)
    assert words["score"] == 1.0 and "heldword" in words["reason"]
    assert toxicity["check"] == "toxicity" and toxicity["label"] == "Toxicity"
    assert (toxicity["verdict"], toxicity["objected"], toxicity["shadow"]) == ("hold", True, True)
    assert toxicity["score"] >= 0.3 and '"idiot"' in toxicity["reason"]
    body = detail["body"]
    assert body == SHADOWED_BODY
    assert [body[a:b] for a, b in toxicity["spans"]] == ["idiot", "moron"]
    quiet = checks[2:]
    assert all(c["verdict"] is None and not c["shadow"] for c in quiet)
    assert all(c["label"] == CHECK_LABELS[c["check"]] for c in checks)
    # The decision followed the acting check, not the shadow one.
    assert decision["to_status"] == "held" and "heldword" in decision["reason"]


def test_api_segments_mark_the_flagged_passages(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = shadowed(session, site, vault, settings)
    segments = detail_of(client, session, site, comment)["segments"]
    assert "".join(s["text"] for s in segments) == SHADOWED_BODY
    marked = [(s["text"], s["checks"], s["shadow"]) for s in segments if s["checks"]]
    assert marked == [
        ("heldword", ["moderation_words"], False),
        ("idiot", ["toxicity"], True),
        ("moron", ["toxicity"], True),
    ]
    assert segments[0] == {"text": SCRIPT + " ", "checks": [], "shadow": False}


def test_spans_of_every_content_check_are_merged_where_they_overlap(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    with_policy(session, site, moderation_words=["idiot and"], toxicity_hold_at=0.3)
    comment = decided(session, site, vault, settings, body=SPANS_BODY)
    detail = detail_of(client, session, site, comment)
    [decision] = detail["decisions"]
    objected = {c["check"] for c in decision["checks"] if c["objected"]}
    assert {"moderation_words", "links", "contacts", "toxicity", "personal_data"} <= objected
    marked = [(s["text"], s["checks"]) for s in detail["segments"] if s["checks"]]
    assert ("https://bit.ly/3xYzAbc", ["links"]) in marked
    assert ("@pillseller99", ["contacts"]) in marked
    assert ("+1 415 555 0199", ["contacts", "personal_data"]) in marked
    assert ("bob.smith@example.org", ["contacts", "personal_data"]) in marked
    # "idiot and" (moderation word) and "idiot" (toxicity) are one marked passage.
    assert ("idiot and", ["moderation_words", "toxicity"]) in marked
    assert ("moron", ["toxicity"]) in marked
    assert "".join(s["text"] for s in detail["segments"]) == SPANS_BODY

    page = page_of(client, session, site, comment)
    text = body_html(page)
    assert re.findall(r"<mark>([^<]*)</mark>", text) == [t for t, _ in marked]
    assert html.unescape(re.sub(r"</?mark>", "", text)) == SPANS_BODY
    for label in ("Link reputation", "Contact handles", "Personal data", "Toxicity"):
        assert f'<td class="check-label">{label}</td>' in page


# -- the comment page ------------------------------------------------------------------------


def test_page_explains_the_checks_in_human_words_with_the_shadow_label(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = shadowed(session, site, vault, settings)
    page = page_of(client, session, site, comment)
    found = rows(page)
    assert len(found) == len(check_names())
    words, toxicity, *quiet = found
    assert 'class="objected" data-check="moderation_words"' in words
    assert '<td class="check-label">Moderation word list</td>' in words
    assert '<th scope="row">moderation_words</th>' in words
    assert "<strong>hold</strong>" in words and '<td class="score">1.00</td>' in words
    assert "moderation word: &#34;heldword&#34; in the comment" in words
    assert "shadow" not in words
    assert 'class="objected shadow" data-check="toxicity"' in toxicity
    assert '<td class="check-label">Toxicity</td>' in toxicity
    assert '<span class="shadow-label">shadow — not acted on</span>' in toxicity
    assert re.search(r'<td class="score">0\.\d\d</td>', toxicity)
    assert "<q>idiot</q>, <q>moron</q>" in toxicity  # the passages it flagged
    assert all('class="no-opinion"' in row and "no objection" in row for row in quiet)
    assert "12 checks had no opinion</summary>" in page
    assert '<td class="check-label">Near-duplicates</td>' in page
    assert '<td class="check-label">Spam classifier</td>' in page


def test_page_marks_the_passages_and_escapes_the_text(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = shadowed(session, site, vault, settings)
    page = page_of(client, session, site, comment)
    text = body_html(page)
    assert text == (
        f"{escape(SCRIPT)} <mark>heldword</mark>: you are an "
        '<mark class="shadow-mark" title="Toxicity (shadow mode, not acted on)">idiot</mark>'
        ' and a <mark class="shadow-mark" title="Toxicity (shadow mode, not acted on)">'
        "moron</mark>"
    )
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;owned&#34;)" in page
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/static/moderation/moderation.js" defer>'
    ]
    assert "flagged only by a check in shadow mode, not acted on" in page


def test_an_approved_comment_says_no_check_objected(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comment = decided(session, site, vault, settings, body="A calm remark about <b>roads</b>.")
    assert comment.status is CommentStatus.APPROVED
    page = page_of(client, session, site, comment)
    assert "No check objected." in page
    assert body_html(page) == "A calm remark about &lt;b&gt;roads&lt;/b&gt;."
    assert len(rows(page)) == len(check_names())


# -- the segments themselves -----------------------------------------------------------------


def view(name: str, spans: list[list[int]], *, shadow: bool = False, position: int = 0) -> Any:
    return CheckView(name, "hold", 0.9, "", spans, shadow=shadow, position=position)


def test_segments_merge_overlapping_and_touching_spans_and_keep_the_text() -> None:
    body = "abcdefghij"
    segments = highlight_segments(
        body,
        [
            view("toxicity", [[2, 5]], position=10),
            view("moderation_words", [[4, 6], [6, 7]], position=3),
            view("links", [[8, 99]], shadow=True, position=4),
        ],
    )
    assert segments == [
        Segment("ab"),
        Segment("cdefg", ("moderation_words", "toxicity"), shadow=False),
        Segment("h"),
        Segment("ij", ("links",), shadow=True),
    ]
    assert "".join(s.text for s in segments) == body
    assert segments[1].labels == "Moderation word list, Toxicity"


def test_segments_ignore_empty_reversed_and_malformed_spans() -> None:
    body = "hello world"
    bad: list[Any] = [[5, 5], [7, 3], [1], "ab", [None, 2], [-4, 2]]
    segments = highlight_segments(body, [view("contacts", bad)])
    assert segments == [Segment("he", ("contacts",)), Segment("llo world")]
    no_opinion = CheckView("links", None, 0.0, "no opinion", [[0, 5]])
    assert highlight_segments(body, [no_opinion]) == [Segment(body)]
    assert highlight_segments("", []) == [Segment("")]


def test_a_passage_flagged_by_acting_and_shadow_checks_is_not_shadow() -> None:
    segments = highlight_segments(
        "xyz",
        [
            view("toxicity", [[0, 3]], shadow=True, position=10),
            view("moderation_words", [[1, 2]], position=3),
        ],
    )
    assert segments == [Segment("xyz", ("moderation_words", "toxicity"), shadow=False)]
