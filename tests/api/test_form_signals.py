"""Form tokens and the honeypot at intake (X2, R6, R7): the outcome is stored with the comment
and decided by the `form_signals` check; nothing is refused for it. Also the demo page's
no-JavaScript form and our pages' Content-Security-Policy."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.context import form_tokens
from core import moderation
from core.privacy import PrivacyVault
from models import CheckResult, Comment, CommentStatus, Decision, Site
from tests.conftest import TEST_ORIGIN

URL = "/api/v1/sites/gazette/comments"
TOKEN_URL = "/api/v1/sites/gazette/form-token"


def submit(client: FlaskClient, n: int, **extra: Any) -> Any:
    body = {
        "thread": "council-vote",
        "comment": f"A remark about the vote, number {n}.",
        "name": f"Reader {n}",
        "email": f"reader{n}@example.org",
        **extra,
    }
    return client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Origin": TEST_ORIGIN},
        environ_base={"REMOTE_ADDR": f"198.51.100.{n}"},
    )


def token_issued(app: Flask, seconds_ago: float, thread: str = "council-vote") -> str:
    with app.app_context():
        return form_tokens().issue("gazette", thread, now=time.time() - seconds_ago)


def stored(session: Session, response: Any) -> Comment:
    assert response.status_code == 202, response.get_data(as_text=True)
    comment = session.get(Comment, response.get_json()["id"])
    assert comment is not None
    return comment


@pytest.mark.usefixtures("site")
def test_token_endpoint(client: FlaskClient) -> None:
    response = client.get(f"{TOKEN_URL}?thread=council-vote", headers={"Origin": TEST_ORIGIN})
    assert response.status_code == 200
    body = response.get_json()
    assert body["field"] == "form_token" and body["honeypot_field"] == "rg_hp"
    assert re.fullmatch(r"v1\.\d+\.[\w-]+", body["token"])
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    foreign = client.get(f"{TOKEN_URL}?thread=x", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert foreign.get_json()["error"] == "origin_not_allowed"
    assert client.get(TOKEN_URL).status_code == 422


@pytest.mark.usefixtures("site")
def test_a_genuine_token_is_stored_with_the_forms_age(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    comment = stored(session, submit(client, 1, form_token=token_issued(app, 12.0)))
    signals = comment.form_signals
    assert signals is not None and signals["token"] == "valid" and signals["honeypot"] is False
    assert 11.5 <= signals["seconds"] <= 20


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("make", "state"),
    [
        (lambda app: token_issued(app, 5, thread="another-article"), "invalid"),
        (lambda app: "v1.123.forged", "invalid"),
        (lambda app: token_issued(app, 25 * 3600), "expired"),
    ],
)
def test_bad_tokens_are_accepted_and_recorded(
    app: Flask, client: FlaskClient, session: Session, make: Any, state: str
) -> None:
    """Never refused: the check holds such comments for a human instead."""
    comment = stored(session, submit(client, 2, form_token=make(app)))
    assert comment.form_signals is not None and comment.form_signals["token"] == state


@pytest.mark.usefixtures("site")
def test_no_token_no_signals(client: FlaskClient, session: Session) -> None:
    assert stored(session, submit(client, 3)).form_signals is None
    # An empty honeypot (what every real form sends) is no signal either.
    assert stored(session, submit(client, 4, rg_hp="")).form_signals is None


@pytest.mark.usefixtures("site")
def test_honeypot_answer_looks_the_same_and_the_comment_is_spam(
    client: FlaskClient, session: Session, vault: PrivacyVault
) -> None:
    """R6: the response is indistinguishable (202); the comment is decided spam."""
    normal = submit(client, 5)
    trapped = submit(client, 6, rg_hp="https://cheap-pills.example")
    assert trapped.status_code == normal.status_code == 202
    assert set(trapped.get_json()) == set(normal.get_json())
    comment = stored(session, trapped)
    assert comment.form_signals == {"token": "missing", "seconds": None, "honeypot": True}
    assert moderation.moderate(session, comment.id, vault=vault).status is CommentStatus.SPAM


@pytest.mark.usefixtures("site")
def test_a_form_sent_too_fast_is_held_with_the_reason(
    app: Flask, client: FlaskClient, session: Session, vault: PrivacyVault
) -> None:
    """R7: a submission half a second after the form loaded is held, not rejected."""
    fast = stored(session, submit(client, 7, form_token=token_issued(app, 0.5)))
    outcome = moderation.moderate(session, fast.id, vault=vault)
    assert outcome.status is CommentStatus.HELD
    reason = session.scalar(
        select(CheckResult.reason)
        .join(Decision, Decision.id == CheckResult.decision_id)
        .where(Decision.comment_id == fast.id, CheckResult.check_name == "form_signals")
    )
    assert reason is not None
    assert re.fullmatch(r"suspicious: posted 0\.\d s after the form loaded", reason)
    slow = stored(session, submit(client, 8, form_token=token_issued(app, 30)))
    assert moderation.moderate(session, slow.id, vault=vault).status is CommentStatus.APPROVED


def test_demo_page_no_js_form_and_security_headers(client: FlaskClient, session: Session) -> None:
    from core.sites import seed_demo

    seed_demo(session)
    session.commit()
    response = client.get("/demo")
    html = response.get_data(as_text=True)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "<style" not in html and " style=" not in html  # nothing the policy would block
    assert re.search(r'<input type="hidden" name="form_token" value="v1\.\d+\.[\w-]+">', html)
    assert 'name="rg_hp"' in html and 'tabindex="-1"' in html
    assert 'src="/embed.js" data-site="demo" data-thread="welcome-to-replyguard"' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_error_pages_of_form_posts_carry_the_policy(client: FlaskClient, site: Site) -> None:
    response = client.post(
        URL,
        data={"comment": "x", "comment_post_ID": "t"},
        headers={"Origin": TEST_ORIGIN, "Accept": "text/html"},
    )
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
