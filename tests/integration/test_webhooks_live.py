"""Webhooks with real processes: gunicorn, the moderation worker, the webhook worker (its own
queue, a thread pool) and beat, on PostgreSQL and Redis, delivering to loopback receivers.

1. An admin registers an endpoint over HTTP; a moderator approves a held comment over
   HTTP; the webhook worker delivers it; the receiver answers 500 first, and beat's poller
   sends the retry from `next_attempt_at`; both requests verify with the reference
   `standardwebhooks` library and carry the same webhook-id.
2. A receiver that sleeps 15 s on every request (the sender's deadline) does not slow
   moderation: new comments are decided while its attempts hang.

Uses a fresh database and Redis db 12 (flushed at start and end, no other db touched).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from core import accounts
from core.sites import ensure_site
from models import DeliveryStatus, Role, WebhookAttempt, WebhookDelivery
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade
from tests.integration.test_submit_to_decision import (
    HttpClient,
    accepted,
    flush_redis_db,
    submit,
    wait_decided,
)
from tests.support.databases import create_database, drop_database
from tests.support.polling import wait_for
from tests.support.stack import LiveStack, stack_settings
from tests.support.webhooks import Receiver, Reply

SITE = "gazette"
HOLD_WORD = "embargo"
WEBHOOK_REDIS_URL = os.environ.get("REPLYGUARD_TEST_WEBHOOK_REDIS_URL", "redis://127.0.0.1:6379/12")


@dataclass
class Live:
    stack: LiveStack
    client: HttpClient
    engine: Engine
    admin: dict[str, str]
    moderator: dict[str, str]


def prepare(url: str) -> tuple[str, str]:
    """Migrate, create the site (holding HOLD_WORD) and two tokens; return the tokens."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            site = ensure_site(session, SITE, name="The Webhook Gazette")
            site.policy = {"moderation_words": [HOLD_WORD]}
            session.flush()
            admin = accounts.create_token(session, site, Role.ADMIN, label="it-admin")
            moderator = accounts.create_token(session, site, Role.MODERATOR, label="it-mod")
            return admin.secret, moderator.secret
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("webhook-stack")
    with ExitStack() as cleanup:
        database_url = create_database("replyguard_it_wh")
        cleanup.callback(drop_database, database_url)
        admin, moderator = prepare(database_url)
        flush_redis_db(WEBHOOK_REDIS_URL)
        cleanup.callback(flush_redis_db, WEBHOOK_REDIS_URL)
        engine = make_engine(database_url)
        cleanup.callback(engine.dispose)
        settings = stack_settings(
            database_url,
            WEBHOOK_REDIS_URL,
            workdir / "instance",
            webhooks_allow_loopback=True,  # the receivers listen on 127.0.0.1
            webhook_poll_seconds=1,
        )
        stack = cleanup.enter_context(
            LiveStack(settings, workdir, beat=True, webhooks=True, concurrency=2)
        )
        yield Live(
            stack,
            HttpClient(stack.base_url),
            engine,
            {"Authorization": f"Bearer {admin}"},
            {"Authorization": f"Bearer {moderator}"},
        )


def register(live: Live, url: str) -> tuple[str, str]:
    result = live.client.request(
        "POST",
        f"/api/v1/sites/{SITE}/webhooks",
        payload={"url": url, "events": ["comment.approved"]},
        headers=live.admin,
    )
    assert result.status == 201, (result.status, result.body)
    body = result.json()
    return body["endpoint"]["id"], body["secret"]


def set_enabled(live: Live, endpoint_id: str, enabled: bool) -> None:
    result = live.client.request(
        "PATCH",
        f"/api/v1/sites/{SITE}/webhooks/{endpoint_id}",
        payload={"enabled": enabled},
        headers=live.admin,
    )
    assert result.status == 200, (result.status, result.body)


@pytest.mark.integration
def test_an_approval_is_delivered_signed_and_retried_by_beat(live: Live) -> None:
    with Receiver([Reply(500, body=b"try again")]) as receiver:
        endpoint_id, secret = register(live, receiver.url())
        try:
            thread = f"wh-{uuid.uuid4().hex[:8]}"
            body = accepted(submit(live.client, thread, f"Hold this {HOLD_WORD} please."))
            assert wait_decided(live.client, body["status_url"])["status"] == "held"
            decision = live.client.request(
                "POST",
                f"/api/v1/sites/{SITE}/moderation/comments/{body['id']}/decision",
                payload={"action": "approve"},
                headers=live.moderator,
            )
            assert decision.status == 200, decision.body
            # The first attempt (500) right away; beat's poller sends the retry ~5 s later.
            first, second = receiver.wait_for(2, timeout=30)
        finally:
            set_enabled(live, endpoint_id, False)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    for request in (first, second):
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["type"] == "comment.approved"
        assert payload["data"]["comment"]["id"] == body["id"]
    gap = second.at - first.at
    assert 3.5 <= gap <= 15, gap  # 5 s ± 20 %, plus the poller's 1 s tick

    def delivered() -> list[WebhookAttempt] | None:
        with Session(live.engine) as session:
            row = session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()))
            if row is None or row.status is not DeliveryStatus.DELIVERED:
                return None
            return list(
                session.scalars(
                    select(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id == row.id)
                    .order_by(WebhookAttempt.id)
                )
            )

    attempts = wait_for(delivered, timeout=10, what="the delivery to be recorded")
    assert [a.status_code for a in attempts] == [500, 200]
    log = live.client.request(
        "GET", f"/api/v1/sites/{SITE}/webhooks/{endpoint_id}/deliveries", headers=live.admin
    ).json()
    assert log["deliveries"][0]["status"] == "delivered"
    assert secret not in json.dumps(log)


@pytest.mark.integration
def test_a_receiver_sleeping_15_s_does_not_slow_moderation(live: Live) -> None:
    """The slow receiver holds webhook threads for the full 15 s deadline; meanwhile new
    comments are decided as fast as ever (the moderation worker never waits for it)."""
    with Receiver(default=Reply(200, sleep=15.0)) as slow:
        endpoint_id, _ = register(live, slow.url())
        try:
            thread = f"wh-slow-{uuid.uuid4().hex[:8]}"
            first = accepted(submit(live.client, thread, "First approved comment."))
            assert wait_decided(live.client, first["status_url"])["status"] == "approved"
            slow.wait_for(1, timeout=15)  # an attempt is now hanging on the receiver
            latencies = []
            for n in range(5):
                started = time.monotonic()
                body = accepted(submit(live.client, thread, f"Comment {n} while it hangs."))
                assert wait_decided(live.client, body["status_url"])["status"] == "approved"
                latencies.append(time.monotonic() - started)
        finally:
            set_enabled(live, endpoint_id, False)
    assert max(latencies) < 3.0, latencies
