"""The Akismet-compatible endpoints through the Flask test client: keys, answers and their
headers, missing fields, the discard tip, what is (not) stored, and training labels."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core import accounts
from core.privacy import PrivacyVault
from models import AuthorMark, Comment, Decision, Role, Site, TrainingLabel

BLOG = "https://news.example/"
SPAM_WORD = "cheap-pills"
HOLD_WORD = "embargo"


def key_for(session: Session, site: Site, role: Role) -> str:
    issued = accounts.create_token(session, site, role, label="akismet-test")
    session.commit()
    return issued.secret


@pytest.fixture
def viewer_key(session: Session, site: Site) -> str:
    return key_for(session, site, Role.VIEWER)


@pytest.fixture
def moderator_key(session: Session, site: Site) -> str:
    site.policy = {"disallowed_words": [SPAM_WORD], "moderation_words": [HOLD_WORD]}
    return key_for(session, site, Role.MODERATOR)


def comment(key: str, **fields: str) -> dict[str, str]:
    form = {
        "api_key": key,
        "blog": BLOG,
        "user_ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (test)",
        "permalink": "https://news.example/2026/budget",
        "comment_type": "comment",
        "comment_author": "Ada Reader",
        "comment_author_email": "ada.reader@example.org",
        "comment_content": "A thoughtful remark about the budget.",
    }
    form.update(fields)
    return form


def post(client: FlaskClient, route: str, form: dict[str, str]) -> TestResponse:
    return client.post(f"/1.1/{route}", data=form)


def counts(session: Session) -> dict[str, Any]:
    found = {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (Comment, Decision, TrainingLabel)
    }
    session.commit()  # end the read, as a request's session would start afresh
    return found


def test_verify_key(client: FlaskClient, viewer_key: str) -> None:
    ok = post(client, "verify-key", {"api_key": viewer_key, "blog": BLOG})
    assert (ok.status_code, ok.text) == (200, "valid")
    assert ok.mimetype == "text/plain"
    assert "X-akismet-debug-help" not in ok.headers
    older = post(client, "verify-key", {"key": viewer_key, "blog": BLOG})
    assert older.text == "valid"
    for form in ({"api_key": "rgt_nope", "blog": BLOG}, {"blog": BLOG}, {"api_key": viewer_key}):
        bad = post(client, "verify-key", form)
        assert (bad.status_code, bad.text) == (200, "invalid")
        assert bad.headers["X-akismet-debug-help"]


def test_ham_is_false_and_nothing_is_stored(
    client: FlaskClient, session: Session, viewer_key: str
) -> None:
    before = counts(session)
    response = post(client, "comment-check", comment(viewer_key))
    assert (response.status_code, response.text) == (200, "false")
    assert response.headers["X-replyguard-decision"] == "approve"
    assert response.headers["X-replyguard-reasons"] == "none"
    assert len(response.headers["X-akismet-guid"]) == 36
    assert "X-akismet-pro-tip" not in response.headers
    assert "X-akismet-debug-help" not in response.headers
    assert counts(session) == before


def test_disallowed_word_is_certain_spam_with_the_discard_tip(
    client: FlaskClient, moderator_key: str
) -> None:
    response = post(
        client, "comment-check", comment(moderator_key, comment_content=f"Buy {SPAM_WORD} now")
    )
    assert response.text == "true"
    assert response.headers["X-akismet-pro-tip"] == "discard"
    assert response.headers["X-replyguard-decision"] == "spam"
    assert response.headers["X-replyguard-reasons"] == "disallowed_words=spam"


def test_honeypot_filled_is_spam_and_empty_is_not(client: FlaskClient, viewer_key: str) -> None:
    filled = comment(viewer_key, honeypot_field_name="hp_website", hp_website="http://x.test")
    response = post(client, "comment-check", filled)
    assert (response.text, response.headers["X-akismet-pro-tip"]) == ("true", "discard")
    assert response.headers["X-replyguard-reasons"] == "form_signals=spam"
    empty = post(client, "comment-check", comment(viewer_key, honeypot_field_name="hp_website"))
    assert empty.text == "false"
    # A "honeypot" named like a real field is ignored, not turned against every comment.
    sneaky = post(
        client, "comment-check", comment(viewer_key, honeypot_field_name="comment_content")
    )
    assert sneaky.text == "false"


def test_a_held_comment_is_true_without_the_tip(client: FlaskClient, moderator_key: str) -> None:
    response = post(
        client, "comment-check", comment(moderator_key, comment_content=f"About the {HOLD_WORD}")
    )
    assert response.text == "true"
    assert "X-akismet-pro-tip" not in response.headers
    assert response.headers["X-replyguard-decision"] == "hold"
    assert response.headers["X-replyguard-reasons"] == "moderation_words=hold"


def test_a_banned_author_is_found_through_the_email_index(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, viewer_key: str
) -> None:
    session.add(
        AuthorMark(
            site_id=site.id,
            email_index=vault.email_index("Ada.Reader@example.org"),
            kind="ban",
            reason="spammer",
            created_by="moderator:1",
        )
    )
    session.commit()
    response = post(client, "comment-check", comment(viewer_key))
    assert (response.text, response.headers["X-replyguard-decision"]) == ("true", "spam")
    assert response.headers["X-replyguard-reasons"] == "author_banned=spam"


def test_check_unavailable_answers_true_hold(
    client: FlaskClient, viewer_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import spam_oracle
    from core.checks import CheckUnavailable

    def unavailable(*_args: object) -> object:
        raise CheckUnavailable("the classifier is not loaded")

    monkeypatch.setattr(spam_oracle, "run_pipeline", unavailable)
    response = post(client, "comment-check", comment(viewer_key))
    assert response.text == "true"
    assert "X-akismet-pro-tip" not in response.headers
    assert response.headers["X-replyguard-decision"] == "hold"
    assert response.headers["X-replyguard-reasons"] == "unavailable=hold"


def test_bad_key_and_missing_fields(client: FlaskClient, viewer_key: str) -> None:
    bad = post(client, "comment-check", comment("rgt_not-a-token"))
    assert (bad.status_code, bad.text) == (200, "invalid")
    assert "API token" in bad.headers["X-akismet-debug-help"]
    assert "X-replyguard-decision" not in bad.headers
    for name in ("blog", "user_ip"):
        form = comment(viewer_key)
        form[name] = ""
        response = post(client, "comment-check", form)
        assert response.status_code == 200
        assert response.text == f"Missing required field: {name}."
        assert response.headers["X-akismet-debug-help"] == response.text
    keyless = comment(viewer_key)
    del keyless["api_key"]
    assert post(client, "comment-check", keyless).text == "invalid"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"api_key=%ff%fe&blog=%",
        "comment_content=\u2603&blog=x".encode(),
    ],
)
def test_odd_bodies_never_fail(client: FlaskClient, body: bytes) -> None:
    response = client.post(
        "/1.1/comment-check", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.text) == (200, "invalid")
    json_body = client.post("/1.1/comment-check", json={"api_key": "x"})
    assert json_body.text == "invalid"


def test_odd_field_values_are_tolerated(client: FlaskClient, viewer_key: str) -> None:
    form = comment(
        viewer_key,
        user_ip="not-an-ip",
        comment_date_gmt="yesterday",
        comment_author_url="javascript:alert(1)",
        comment_content="\x00" + "x" * 20_000,
        user_agent="u" * 5000,
    )
    response = post(client, "comment-check", form)
    assert (response.status_code, response.text) == (200, "false")
    dated = post(
        client, "comment-check", comment(viewer_key, comment_date_gmt="2026-11-30T08:00:00Z")
    )
    assert dated.text == "false"


def test_oversized_body_is_refused_akismet_style(client: FlaskClient, viewer_key: str) -> None:
    response = post(client, "comment-check", comment(viewer_key, comment_content="x" * 400_000))
    assert response.status_code == 413
    assert response.headers["X-akismet-debug-help"]


def test_only_post(client: FlaskClient) -> None:
    assert client.get("/1.1/comment-check").status_code == 405


@pytest.mark.parametrize(("route", "label"), [("submit-spam", "spam"), ("submit-ham", "ham")])
def test_submit_records_a_label_with_the_text_only(
    client: FlaskClient, session: Session, site: Site, moderator_key: str, route: str, label: str
) -> None:
    token_id = accounts.resolve_token(session, moderator_key).token_id
    response = post(client, route, comment(moderator_key, comment_content="Label me, please."))
    assert (response.status_code, response.text) == (
        200,
        "Thanks for making the web a better place.",
    )
    assert response.headers["X-replyguard-label"] == "recorded"
    [row] = session.scalars(select(TrainingLabel).where(TrainingLabel.site_id == site.id))
    assert (row.label, row.body, row.comment_id, row.source) == (
        label,
        "Label me, please.",
        None,
        f"akismet:token:{token_id}",
    )
    assert session.scalar(select(func.count()).select_from(Comment)) == 0


def test_submit_needs_a_moderator_key_and_skips_test_calls(
    client: FlaskClient, session: Session, viewer_key: str, moderator_key: str
) -> None:
    refused = post(client, "submit-spam", comment(viewer_key))
    assert refused.text == "invalid"
    assert "moderator" in refused.headers["X-akismet-debug-help"]
    test_call = post(client, "submit-spam", comment(moderator_key, is_test="1"))
    assert test_call.text == "Thanks for making the web a better place."
    assert test_call.headers["X-replyguard-label"] == "skipped"
    empty = post(client, "submit-ham", comment(moderator_key, comment_content=" "))
    assert empty.headers["X-replyguard-label"] == "skipped"
    assert session.scalar(select(func.count()).select_from(TrainingLabel)) == 0
    no_blog = post(client, "submit-ham", comment(moderator_key, blog=""))
    assert no_blog.headers["X-akismet-debug-help"] == "Missing required field: blog."


def test_the_key_is_never_logged(
    client: FlaskClient, moderator_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    post(client, "comment-check", comment(moderator_key, comment_content="secret text 42"))
    post(client, "submit-spam", comment(moderator_key, comment_content="secret text 42"))
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert moderator_key not in logged
    assert "secret text 42" not in logged
    assert "ada.reader" not in logged
