"""The webhooks API through Flask on real databases: admins only, register (secret shown
once), the W11 table answered with 422 `webhook_url_blocked` and its reason, change,
rotate, test ping, the delivery log with attempts, replay (audited), delete; and a
moderator's approval through the moderation API reaching a loopback receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from core import tasknames
from core.config import Settings
from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import AuditEntry, Role, Site, WebhookDelivery, WebhookEndpoint
from tests.core.test_webhook_delivery import run
from tests.core.test_webhook_ssrf import RESOLVER, W11
from tests.support.moderation import held, token
from tests.support.webhooks import Receiver, Reply, egress_guard

BASE = "/api/v1/sites/gazette/webhooks"


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """The tests' receivers listen on loopback: the development allowance is on."""
    return base_settings.with_overrides(webhooks_allow_loopback=True)


@pytest.fixture
def admin(session: Session, site: Site) -> dict[str, str]:
    return token(session, site, Role.ADMIN)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def send(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], body: Any = None
) -> Any:
    return client.open(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def create(client: FlaskClient, admin: dict[str, str], url: str, **extra: Any) -> Any:
    body = {"url": url, "events": ["comment.approved"], **extra}
    return send(client, "POST", "", admin, body)


def test_only_admins_of_the_site_manage_webhooks(
    client: FlaskClient, session: Session, site: Site, receiver: Receiver
) -> None:
    assert client.get(BASE).status_code == 401
    moderator = token(session, site, Role.MODERATOR)
    denied = create(client, moderator, receiver.url())
    assert denied.status_code == 403 and denied.get_json()["error"] == "permission_denied"
    other = ensure_site(session, "other", name="Other")
    session.commit()
    foreign = token(session, other, Role.ADMIN)
    assert create(client, foreign, receiver.url()).status_code == 404
    assert session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_register_shows_the_secret_once(
    client: FlaskClient, session: Session, admin: dict[str, str], receiver: Receiver
) -> None:
    response = create(client, admin, receiver.url(), description="search index")
    assert response.status_code == 201
    body = response.get_json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert response.headers["Cache-Control"] == "no-store"
    endpoint = body["endpoint"]
    assert endpoint["id"].startswith("ep_") and endpoint["url"] == receiver.url()
    assert endpoint["events"] == ["comment.approved"] and endpoint["enabled"] is True
    assert response.headers["Location"].endswith(f"{BASE}/{endpoint['id']}")
    one = client.get(f"{BASE}/{endpoint['id']}", headers=admin)
    listed = client.get(BASE, headers=admin)
    assert one.status_code == 200 and listed.status_code == 200
    assert one.get_json()["endpoint"] == endpoint
    assert [e["id"] for e in listed.get_json()["endpoints"]] == [endpoint["id"]]
    assert secret not in one.get_data(as_text=True) + listed.get_data(as_text=True)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.created"))
    assert entry is not None and entry.actor.startswith("token:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://example.com/", "events": ["comment.eaten"]}, "events"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"events": ["comment.approved"]}, "url"),
        ({"url": "https://example.com/", "events": ["comment.approved"], "x": 1}, "x"),
    ],
)
def test_bad_registrations_name_the_field(
    client: FlaskClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = send(client, "POST", "", admin, body)
    assert response.status_code == 422
    assert response.get_json()["error"] == "validation_failed"
    assert field in response.get_json()["fields"]


@pytest.mark.parametrize(("url", "reason"), W11)
def test_ssrf_table_is_refused_with_422(
    app: Flask,
    client: FlaskClient,
    session: Session,
    settings: Settings,
    admin: dict[str, str],
    url: str,
    reason: str,
) -> None:
    """W11 through the API, with the production rules (no loopback allowance) and a stub
    resolver; the egress guard confirms that nothing was connected."""
    app.extensions["replyguard.settings"] = settings.with_overrides(webhooks_allow_loopback=False)
    app.extensions["replyguard.webhook_resolver"] = RESOLVER
    with egress_guard() as guard:
        response = create(client, admin, url)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "webhook_url_blocked"
    assert body["reason"] == reason
    assert body["message"]
    assert guard.attempts == []
    assert session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_change_disable_enable_and_delete(
    client: FlaskClient, session: Session, admin: dict[str, str], receiver: Receiver
) -> None:
    endpoint_id = create(client, admin, receiver.url()).get_json()["endpoint"]["id"]
    path = f"/{endpoint_id}"
    changed = send(client, "PATCH", path, admin, {"events": ["comment.held", "comment.approved"]})
    assert changed.status_code == 200
    assert changed.get_json()["endpoint"]["events"] == ["comment.approved", "comment.held"]
    off = send(client, "PATCH", path, admin, {"enabled": False}).get_json()["endpoint"]
    assert off["enabled"] is False and off["disabled_reason"] == "disabled by an administrator"
    assert send(client, "POST", f"{path}/test", admin).status_code == 409
    on = send(client, "PATCH", path, admin, {"enabled": True}).get_json()["endpoint"]
    assert on["enabled"] is True and on["disabled_reason"] is None
    blocked = send(client, "PATCH", path, admin, {"url": "http://10.0.0.1/"})
    assert blocked.status_code == 422 and blocked.get_json()["reason"] == "private"
    assert send(client, "DELETE", path, admin).status_code == 204
    missing = client.get(BASE + path, headers=admin)
    assert missing.status_code == 404 and missing.get_json()["error"] == "webhook_not_found"
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"webhook.created", "webhook.updated", "webhook.deleted"} <= actions


def test_rotate_secret(client: FlaskClient, admin: dict[str, str], receiver: Receiver) -> None:
    created = create(client, admin, receiver.url()).get_json()
    rotated = send(client, "POST", f"/{created['endpoint']['id']}/rotate-secret", admin)
    assert rotated.status_code == 200
    body = rotated.get_json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["endpoint"]["previous_secret_expires_at"] is not None
    assert rotated.headers["Cache-Control"] == "no-store"


def test_ping_log_and_replay(
    client: FlaskClient,
    session: Session,
    vault: PrivacyVault,
    admin: dict[str, str],
    published: list[tuple[str, int]],
) -> None:
    """A test ping is a delivery like any other: signed, logged with its attempts, and
    replayable (W9: same webhook-id; audited)."""
    with Receiver([Reply(500, body=b"not yet")]) as receiver:
        created = create(client, admin, receiver.url()).get_json()
        endpoint_id, secret = created["endpoint"]["id"], created["secret"]
        ping = send(client, "POST", f"/{endpoint_id}/test", admin)
        assert ping.status_code == 202
        queued = ping.get_json()["delivery"]
        assert queued["event_type"] == "webhook.test" and queued["status"] == "pending"
        row = session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.public_id == queued["id"])
        )
        assert row is not None
        assert (tasknames.DELIVER_WEBHOOK, row.id) in published
        assert run(session, vault, row).outcome == "http_error"
        log = client.get(f"{BASE}/{endpoint_id}/deliveries", headers=admin).get_json()
        (entry,) = log["deliveries"]
        assert entry["id"] == queued["id"] and entry["status"] == "pending"
        (attempt,) = entry["attempts"]
        assert attempt["status_code"] == 500 and attempt["response"] == "not yet"
        assert attempt["outcome"] == "http_error" and attempt["latency_ms"] >= 0
        replayed = send(client, "POST", f"/{endpoint_id}/deliveries/{queued['id']}/replay", admin)
        assert replayed.status_code == 202
        assert run(session, vault, row).outcome == "success"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == queued["webhook_id"]
    payload = Webhook(secret).verify(second.body, second.headers)
    assert payload["type"] == "webhook.test" and payload["data"]["endpoint"] == endpoint_id
    detail = client.get(f"{BASE}/{endpoint_id}/deliveries/{queued['id']}", headers=admin)
    shown = detail.get_json()["delivery"]
    assert shown["status"] == "delivered"
    assert [a["trigger"] for a in shown["attempts"]] == ["schedule", "replay"]
    assert secret not in detail.get_data(as_text=True)
    delivered = client.get(f"{BASE}/{endpoint_id}/deliveries?status=delivered", headers=admin)
    assert len(delivered.get_json()["deliveries"]) == 1
    assert session.scalar(select(func.count()).where(AuditEntry.action == "webhook.replayed"))
    missing = send(client, "POST", f"/{endpoint_id}/deliveries/dlv_nope/replay", admin)
    assert missing.status_code == 404 and missing.get_json()["error"] == "delivery_not_found"


def test_a_moderators_approval_reaches_the_receiver(
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    admin: dict[str, str],
    receiver: Receiver,
) -> None:
    """Registered through the API, approved through the moderation API, verified by the
    reference library."""
    comment = held(session, site, vault, settings)  # before any request detaches `site`
    moderator = token(session, site, Role.MODERATOR)
    secret = create(client, admin, receiver.url()).get_json()["secret"]
    decision = client.post(
        f"/api/v1/sites/gazette/moderation/comments/{comment.id}/decision",
        data=json.dumps({"action": "approve"}),
        content_type="application/json",
        headers=moderator,
    )
    assert decision.status_code == 200, decision.get_json()
    (row,) = session.scalars(select(WebhookDelivery))
    run(session, vault, row)
    (request,) = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "comment.approved"
    assert payload["data"]["comment"]["id"] == comment.id
