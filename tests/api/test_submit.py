"""The intake endpoint: every outcome of POST /api/v1/sites/<site>/comments (issue rows F1–F4,
X1, R4, C3, F9) against real PostgreSQL, each test rolled back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from core import tasknames
from models import Comment, OutboxEntry, Site
from tests.conftest import TEST_ORIGIN

URL = "/api/v1/sites/gazette/comments"


def valid(**overrides: Any) -> dict[str, Any]:
    body = {
        "thread": "council-vote",
        "comment": "A thoughtful remark about the council vote.",
        "name": "Jane Reader",
        "email": "jane@example.org",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def post_json(client: FlaskClient, body: Any, **headers: str) -> Any:
    return client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Origin": TEST_ORIGIN, **headers},
        environ_base={"REMOTE_ADDR": headers.pop("ip", "198.51.100.7")},
    )


@pytest.mark.usefixtures("site")
def test_accepts_json_and_publishes_after_commit(
    client: FlaskClient, session: Session, published: list[tuple[str, int]]
) -> None:
    response = post_json(client, valid(website="https://jane.example/blog"))
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["status_url"].endswith(f"/api/v1/sites/gazette/comments/{body['id']}")
    assert response.headers["Location"] == body["status_url"]
    comment = session.get(Comment, body["id"])
    assert comment is not None and comment.website == "https://jane.example/blog"
    assert published == [(tasknames.MODERATE, body["id"])]
    assert session.scalar(select(OutboxEntry.ref_id)) == body["id"]
    assert "jane@example.org" not in response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    assert "Origin" in response.headers["Vary"]


@pytest.mark.usefixtures("site")
def test_wordpress_form_fields_post_unchanged(client: FlaskClient, session: Session) -> None:
    """A WordPress theme's comment form, field for field."""
    form = {
        "comment": "  Posted from a WordPress theme.  ",
        "author": "WP Reader",
        "email": "wp@example.org",
        "url": "wp.example",
        "comment_post_ID": "42",
        "comment_parent": "0",
        "submit": "Post Comment",
        "wp-comment-cookies-consent": "yes",
    }
    response = client.post(URL, data=form, headers={"Origin": TEST_ORIGIN})
    assert response.status_code == 202, response.get_json()
    comment = session.get(Comment, response.get_json()["id"])
    assert comment is not None
    assert comment.body == "Posted from a WordPress theme."  # trimmed as WordPress does
    assert comment.author_name == "WP Reader"
    assert comment.website == "http://wp.example"
    assert comment.thread.key == "42"
    assert comment.parent_id is None


@pytest.mark.usefixtures("site")
def test_browser_form_post_redirects_back_with_marker(client: FlaskClient) -> None:
    form = {**valid(), "redirect_to": f"{TEST_ORIGIN}/2026/council-vote?x=1"}
    response = client.post(URL, data=form, headers={"Origin": TEST_ORIGIN, "Accept": "text/html"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{TEST_ORIGIN}/2026/council-vote?x=1&rg_status=awaiting-moderation")
    assert location.endswith(f"#comment-{location.split('rg_comment=')[1].split('#')[0]}")


@pytest.mark.usefixtures("site")
def test_browser_form_redirect_never_leaves_allowed_origins(client: FlaskClient) -> None:
    form = {**valid(), "redirect_to": "https://evil.example/phish"}
    response = client.post(URL, data=form, headers={"Accept": "text/html"})
    assert response.status_code == 202  # no acceptable target: a notice page, not a redirect
    assert "awaiting moderation" in response.get_data(as_text=True)


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"email": None}, "email", "Please enter your email address."),
        ({"name": "   "}, "name", "Please enter your name."),
        ({"comment": None}, "comment", "Please type your comment text."),
        ({"email": "not-an-address"}, "email", "valid email"),
        ({"email": "a" * 95 + "@x.org"}, "email", "longer than 100"),
        ({"name": "n" * 246}, "name", "longer than 245"),
        ({"website": "javascript:alert(1)"}, "website", "Only http:// and https://"),
        ({"website": "http://user:pw@example.com/"}, "website", "user name or password"),
        ({"website": "https://example.com/" + "a" * 190}, "website", "Longer than 200"),
        ({"comment": "é" * 32763}, "comment", "65,526 bytes"),
        ({"name": "Jane\u0000"}, "name", "Control characters"),
        ({"parent": "abc"}, "parent", "integer"),
        ({"unexpected": "x"}, "unexpected", "Unknown field"),
        ({"name": 12}, "name", "string"),
    ],
)
def test_bad_fields_get_422_naming_the_field_and_store_nothing(
    client: FlaskClient, session: Session, overrides: dict[str, Any], field: str, fragment: str
) -> None:
    before = count(session, Comment)
    response = post_json(client, valid(**overrides))
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert any(fragment in message for message in body["fields"][field]), body
    assert count(session, Comment) == before
    assert count(session, OutboxEntry) == 0


@pytest.mark.usefixtures("site")
def test_limits_are_inclusive(client: FlaskClient) -> None:
    """Exactly at each WordPress limit is accepted (multibyte counted in bytes for the comment)."""
    body = valid(
        name="n" * 245, comment="é" * 32762 + "a", website="https://e.example/" + "a" * 182
    )
    assert len(body["comment"].encode()) == 65_525
    response = post_json(client, body)
    assert response.status_code == 202, response.get_json()


@pytest.mark.usefixtures("site")
def test_reply_needs_an_approved_parent_in_the_same_thread(client: FlaskClient) -> None:
    first = post_json(client, valid()).get_json()["id"]
    response = post_json(
        client, valid(parent=first, email="other@example.org", comment="reply"), ip="198.51.100.8"
    )
    assert response.status_code == 422
    assert "approved" in response.get_json()["fields"]["parent"][0]


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("[1, 2]", "application/json", 400, "malformed_json"),
        ("[" * 150_000 + "]" * 150_000, "application/json", 413, "payload_too_large"),
        ("[" * 20_000 + "]" * 20_000, "application/json", 400, "malformed_json"),
        ("comment=hi", "text/plain", 415, "unsupported_media_type"),
        ("comment=hi", "multipart/form-data; boundary=x", 415, "unsupported_media_type"),
    ],
)
def test_malformed_bodies(
    client: FlaskClient, session: Session, data: str, content_type: str, status: int, code: str
) -> None:
    response = client.post(
        URL, data=data, content_type=content_type, headers={"Origin": TEST_ORIGIN}
    )
    assert response.status_code == status
    assert response.get_json()["error"] == code
    assert count(session, Comment) == 0


@pytest.mark.usefixtures("site")
def test_body_over_the_limit_is_413(client: FlaskClient, settings: Any) -> None:
    big = json.dumps(valid(comment="x" * (settings.max_content_length + 1)))
    response = client.post(URL, data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"


def test_unknown_site_is_404(client: FlaskClient) -> None:
    response = client.post("/api/v1/sites/nope/comments", json=valid())
    assert response.status_code == 404
    assert response.get_json()["error"] == "site_not_found"


@pytest.mark.usefixtures("site")
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://news.example.attacker.test"},
        {"Origin": "http://news.example"},  # scheme is part of the origin
        {"Referer": "https://evil.example/page"},
    ],
)
def test_foreign_origins_are_403(
    client: FlaskClient, session: Session, headers: dict[str, str]
) -> None:
    """X1: whole-origin match only."""
    response = client.post(URL, json=valid(), headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert count(session, Comment) == 0


@pytest.mark.usefixtures("site")
def test_service_own_origin_and_server_to_server_are_allowed(client: FlaskClient) -> None:
    own = client.post(URL, json=valid(), headers={"Origin": "http://localhost"})
    assert own.status_code == 202
    no_origin = client.post(
        URL,
        json=valid(email="b@example.org", comment="other text"),
        environ_base={"REMOTE_ADDR": "198.51.100.99"},
    )
    assert no_origin.status_code == 202


@pytest.mark.usefixtures("site")
def test_cors_preflight(client: FlaskClient) -> None:
    ok = client.options(
        URL, headers={"Origin": TEST_ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "Origin" in ok.headers["Vary"]
    bad = client.options(URL, headers={"Origin": "https://evil.example"})
    assert bad.status_code == 403
    assert "Access-Control-Allow-Origin" not in bad.headers


@pytest.mark.usefixtures("site")
def test_duplicate_is_409(client: FlaskClient, session: Session) -> None:
    """R4: same thread, same text, same author (even from another address) → 409, one row."""
    assert post_json(client, valid()).status_code == 202
    again = post_json(client, valid(email="another@example.org"), ip="198.51.100.50")
    assert again.status_code == 409
    assert again.get_json()["error"] == "duplicate_comment"
    assert count(session, Comment) == 1


@pytest.mark.usefixtures("site")
def test_flood_is_429_per_ip_and_per_email(client: FlaskClient, session: Session) -> None:
    """WordPress flood rule: one comment per 15 s from the same full IP or the same email."""
    assert post_json(client, valid()).status_code == 202
    same_ip = post_json(client, valid(email="x@example.org", comment="different"))
    assert same_ip.status_code == 429
    assert 1 <= int(same_ip.headers["Retry-After"]) <= 16
    same_email = post_json(client, valid(comment="yet another"), ip="192.0.2.1")
    assert same_email.status_code == 429
    same_email_other_case = post_json(
        client, valid(email="JANE@example.org", comment="third"), ip="192.0.2.2"
    )
    assert same_email_other_case.status_code == 429
    neighbour = post_json(client, valid(email="n@example.org", comment="fourth"), ip="198.51.100.8")
    assert neighbour.status_code == 202  # same /24, different full address
    assert count(session, Comment) == 2


@pytest.mark.usefixtures("site")
def test_stores_only_ciphertext_and_truncated_ip(client: FlaskClient, session: Session) -> None:
    response = post_json(client, valid(), ip="203.0.113.77")
    comment = session.get(Comment, response.get_json()["id"])
    assert comment is not None
    assert b"jane@example.org" not in comment.email_ciphertext
    assert comment.ip_truncated == "203.0.113.0"
    assert comment.ip_index is not None and b"203.0.113.77" not in comment.ip_index


@pytest.mark.usefixtures("site")
def test_proxy_hops_decide_which_address_is_the_client(
    settings: Any, session: Session, published: list[tuple[str, int]]
) -> None:
    from api import create_app

    app = create_app(settings.with_overrides(proxy_hops=1))
    app.extensions["sessionmaker"] = lambda: session
    client = app.test_client()
    headers = {"X-Forwarded-For": "203.0.113.9", "Origin": TEST_ORIGIN}
    response = client.post(URL, json=valid(), headers=headers)
    comment = session.get(Comment, response.get_json()["id"])
    assert comment is not None and comment.ip_truncated == "203.0.113.0"


@pytest.mark.usefixtures("site")
def test_without_proxy_hops_forwarded_for_is_ignored(client: FlaskClient, session: Session) -> None:
    response = post_json(client, valid(), **{"X-Forwarded-For": "203.0.113.9"})
    comment = session.get(Comment, response.get_json()["id"])
    assert comment is not None and comment.ip_truncated == "198.51.100.0"


@pytest.mark.usefixtures("site")
def test_unexpected_error_is_500_json_with_request_id(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """F9: no traceback in the body; the log line carries the request id."""
    import core.comments

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(core.comments, "submit", boom)
    response = post_json(client, valid())
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"] == "internal_error"
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert "kaboom" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.usefixtures("site")
def test_database_down_is_503_with_retry_after(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C3 (in-process half; the real stopped-PostgreSQL case is in the fault suite)."""
    import core.sites

    def unreachable(*_a: Any, **_k: Any) -> Site:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(core.sites, "get_site", unreachable)
    response = post_json(client, valid())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "temporarily_unavailable"


def test_unreachable_database_is_503_quickly_and_healthz_says_so(settings: Any) -> None:
    """C3 with a real connection failure: nothing listens on the database port."""
    import time

    from api import create_app

    app = create_app(
        settings.with_overrides(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    )
    client = app.test_client()
    started = time.monotonic()
    response = client.post(URL, json=valid())
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert client.get("/healthz").status_code == 503
