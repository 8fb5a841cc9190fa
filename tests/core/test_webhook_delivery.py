"""Webhook delivery on real databases with a real loopback receiver: fan-out in the
decision's transaction (W18), signed bodies verified by the reference library (W2, W15),
500-then-200 (W4), the retry schedule on a fake clock (W5), a receiver down for an hour,
410 / 429 / 503 / redirects (W6), timeouts (W7), replay (W9), the attempt log and its
retention (W10), at-least-once after a lost worker (W17), and the per-endpoint cap (W19)."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from core import moderation, tasknames
from core.access import Principal
from core.config import Settings
from core.privacy import PrivacyVault
from core.webhooks import delivery, endpoints, schedule, ssrf
from core.webhooks.delivery import DeliveryConfig
from models import (
    AuditEntry,
    Comment,
    DeliveryStatus,
    Event,
    Site,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from models.base import utcnow
from tests.support.moderation import decided, submitted
from tests.support.stack import free_port
from tests.support.webhooks import Captured, Receiver, Reply, session_scope_of

ADMIN = Principal(actor="token:1", name="test admin")
LOOPBACK_OK = ssrf.UrlPolicy(allow_loopback=True)
CONFIG = DeliveryConfig(policy=LOOPBACK_OK, timeout=5.0, connect_timeout=2.0)
CANARY_EMAIL = "canary+5b1f0c@example.test"


def register(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    url: str,
    events: tuple[str, ...] = ("comment.approved",),
) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = endpoints.create(
        session,
        site,
        ADMIN,
        url=url,
        events=list(events),
        description="",
        check_url=endpoints.UrlCheck(LOOPBACK_OK),
        vault=vault,
    )
    session.commit()
    return endpoint, secret


def deliveries_of(session: Session, endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id)
        )
    )


def attempts_of(session: Session, row: WebhookDelivery) -> list[WebhookAttempt]:
    return list(
        session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == row.id)
            .order_by(WebhookAttempt.id)
        )
    )


def run(
    session: Session,
    vault: PrivacyVault,
    row: WebhookDelivery,
    at: dt.datetime | None = None,
    config: DeliveryConfig = CONFIG,
) -> Any:
    """One attempt through the same claim / send / record path the task uses."""
    when = at or utcnow()
    return delivery.attempt(
        session_scope_of(session),
        row.id,
        config=config,
        vault=vault,
        clock=lambda: when,
        rng=random.Random(7),
    )


def reference_signature_matches(secret: str, request: Captured) -> bool:
    """The reference library signs what we sent with the same id and timestamp."""
    stamp = dt.datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), tz=dt.UTC)
    expected = Webhook(secret).sign(request.headers["webhook-id"], stamp, request.body.decode())
    return expected in request.headers["webhook-signature"].split(" ")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


# -- fan-out -----------------------------------------------------------------------------


def test_an_approval_writes_its_delivery_in_the_same_transaction(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    published: list[tuple[str, int]],
    receiver: Receiver,
) -> None:
    """W18: the event, its delivery and the task (sent after commit) go together; a
    rolled-back decision leaves no event, no delivery and sends nothing."""
    endpoint, _ = register(session, site, vault, receiver.url())
    held_only, _ = register(session, site, vault, receiver.url("/held"), ("comment.held",))
    comment = decided(session, site, vault, settings)
    assert comment.status.value == "approved"
    rows = deliveries_of(session, endpoint)
    assert len(rows) == 1 and rows[0].status is DeliveryStatus.PENDING
    assert deliveries_of(session, held_only) == []
    assert (tasknames.DELIVER_WEBHOOK, rows[0].id) in published
    assert rows[0].next_attempt_at is not None

    other = submitted(session, site, vault, settings)
    sent_before = len(published)
    moderation.moderate(session, other.id, vault=vault)
    session.rollback()
    assert session.scalar(select(func.count()).where(Event.comment_id == other.id)) == 0
    assert len(deliveries_of(session, endpoint)) == 1
    assert len(published) == sent_before


def test_a_lost_publish_is_sent_again_by_the_poller(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, receiver: Receiver
) -> None:
    """W18: the decision committed but its task message never reached a worker. The
    delivery row is the record: the poller sends it once REDISPATCH_AFTER has passed, and
    exactly one event arrives."""
    endpoint, _ = register(session, site, vault, receiver.url())
    decided(session, site, vault, settings)  # the after-commit message is "lost" here
    (row,) = deliveries_of(session, endpoint)
    created = row.dispatched_at
    assert created is not None
    assert delivery.dispatch_due(session, now=created + dt.timedelta(seconds=30)) == []
    later = created + delivery.REDISPATCH_AFTER
    assert delivery.dispatch_due(session, now=later) == [row.id]
    session.commit()
    assert run(session, vault, row, later).outcome == "success"
    assert delivery.dispatch_due(session, now=later + dt.timedelta(hours=1)) == []
    assert len(receiver.requests) == 1


def test_disabled_endpoints_get_nothing(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, receiver: Receiver
) -> None:
    endpoint, _ = register(session, site, vault, receiver.url())
    endpoints.update_endpoint(
        session, endpoint, ADMIN, {"enabled": False}, check_url=endpoints.UrlCheck(LOOPBACK_OK)
    )
    session.commit()
    decided(session, site, vault, settings)
    assert deliveries_of(session, endpoint) == []


# -- one delivery, signed ----------------------------------------------------------------


def test_delivery_is_signed_thin_and_verifiable(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, receiver: Receiver
) -> None:
    """W2 + W15: the reference library verifies the captured request; the body is the
    stored bytes, carries the public fields only (no email, its index, or the IP)."""
    endpoint, secret = register(session, site, vault, receiver.url())
    comment = decided(session, site, vault, settings, email=CANARY_EMAIL, ip="203.0.113.9")
    (row,) = deliveries_of(session, endpoint)
    result = run(session, vault, row)
    assert result.outcome == "success"
    (request,) = receiver.requests
    payload = Webhook(secret).verify(request.body, request.headers)
    assert request.body == row.body.encode()
    assert request.headers["Content-Type"] == "application/json"
    event = session.get(Event, row.event_id)
    assert event is not None and request.headers["webhook-id"] == event.public_id
    assert payload["type"] == "comment.approved" and payload["id"] == event.public_id
    data = payload["data"]
    assert data["version"] == 1 and data["site"] == site.key
    assert data["comment"]["id"] == comment.id
    assert data["comment"]["status"] == "approved"
    assert {"author_name", "body", "body_html", "thread", "submitted_at", "decided_at"} <= set(
        data["comment"]
    )
    text = request.body.decode()
    for secret_value in (CANARY_EMAIL, "canary", comment.email_index.hex(), "203.0.113"):
        assert secret_value not in text
    assert len(request.body) < 20 * 1024
    assert row.status is DeliveryStatus.DELIVERED and row.delivered_at is not None


def test_500_twice_then_200(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W4: same webhook-id on all three attempts, three timestamps, each signature valid
    for its own timestamp; delivered with three attempts logged."""
    script = [Reply(500, body=b"boom"), Reply(500, body=b"boom again"), Reply(200)]
    with Receiver(script) as receiver:
        endpoint, secret = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        t0 = utcnow()
        assert run(session, vault, row, t0).outcome == "http_error"
        assert row.status is DeliveryStatus.PENDING and row.next_attempt_at is not None
        gap = row.next_attempt_at - t0
        assert dt.timedelta(seconds=4) <= gap <= dt.timedelta(seconds=6)
        assert run(session, vault, row, row.next_attempt_at).outcome == "http_error"
        assert run(session, vault, row, row.next_attempt_at).outcome == "success"
    requests = receiver.requests
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.headers["webhook-timestamp"] for r in requests}) == 3
    assert all(reference_signature_matches(secret, r) for r in requests)
    assert {r.body for r in requests} == {row.body.encode()}
    attempts = attempts_of(session, row)
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.outcome for a in attempts] == ["http_error", "http_error", "success"]
    assert attempts[0].response_excerpt == "boom"
    assert row.status.value == "delivered" and row.attempt_count == 3


# -- the schedule on a fake clock ---------------------------------------------------------


def test_retry_schedule_on_a_fake_clock(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """W5: a receiver that always answers 500. The poller picks each retry up from
    next_attempt_at: ten attempts at the spec's offsets (each gap within ±20 %), then
    `exhausted` with the last error kept and an error logged for the operator."""
    with Receiver(default=Reply(500, body=b"down")) as receiver:
        endpoint, _ = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        now = utcnow()
        run(session, vault, row, now)
        with caplog.at_level(logging.ERROR, logger="core.webhooks.delivery"):
            for _ in range(20):  # bounded: the schedule has 9 retries
                if row.status is not DeliveryStatus.PENDING:
                    break
                assert row.next_attempt_at is not None
                early = row.next_attempt_at - dt.timedelta(seconds=1)
                assert row.id not in delivery.dispatch_due(session, now=early)
                now = row.next_attempt_at
                assert delivery.dispatch_due(session, now=now) == [row.id]
                session.commit()
                run(session, vault, row, now)
    attempts = attempts_of(session, row)
    assert len(attempts) == schedule.MAX_ATTEMPTS == 10
    gaps = [b.attempted_at - a.attempted_at for a, b in itertools.pairwise(attempts)]
    for gap, nominal in zip(gaps, schedule.RETRY_DELAYS, strict=True):
        assert nominal * 0.8 <= gap <= nominal * 1.2, (gap, nominal)
    total = attempts[-1].attempted_at - attempts[0].attempted_at
    nominal_total = sum(schedule.RETRY_DELAYS, dt.timedelta())
    assert nominal_total == dt.timedelta(hours=75, minutes=35, seconds=5)
    assert nominal_total * 0.8 <= total <= nominal_total * 1.2
    assert row.status is DeliveryStatus.EXHAUSTED and row.next_attempt_at is None
    assert row.last_status_code == 500 and row.last_error == "HTTP 500"
    assert any("webhook delivery exhausted" in r.getMessage() for r in caplog.records)
    assert endpoint.enabled  # 75.5 h of failures is less than the 5 days that disable
    assert len(receiver.requests) == 10


def test_a_receiver_down_for_an_hour_gets_every_event_when_back(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """Nothing listens on the port for an hour (connection refused); then the receiver
    starts, and the poller's next rounds deliver every event exactly once."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    endpoint, secret = register(session, site, vault, url)
    for _ in range(3):
        decided(session, site, vault, settings)
    rows = deliveries_of(session, endpoint)
    t0 = utcnow()
    now = t0
    while now < t0 + dt.timedelta(hours=1):  # an hour of refused connections
        due = delivery.dispatch_due(session, now=now)
        session.commit()
        for row in rows:
            if row.id in due or row.attempt_count == 0:
                assert run(session, vault, row, now).outcome == "connection_error"
        now = min(r.next_attempt_at for r in rows if r.next_attempt_at is not None)
    assert all(r.status is DeliveryStatus.PENDING for r in rows)
    with Receiver(port=port) as receiver:
        for _ in range(10):
            if all(r.status is DeliveryStatus.DELIVERED for r in rows):
                break
            now = min(r.next_attempt_at for r in rows if r.next_attempt_at is not None)
            for row_id in delivery.dispatch_due(session, now=now):
                session.commit()
                run(session, vault, session.get(WebhookDelivery, row_id), now)  # type: ignore[arg-type]
    assert all(r.status is DeliveryStatus.DELIVERED for r in rows)
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 3
    assert all(reference_signature_matches(secret, r) for r in receiver.requests)


# -- status handling ----------------------------------------------------------------------


def test_410_disables_the_endpoint(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W6: 410 Gone disables the endpoint, cancels what was pending, and tells the site's
    audit log; nothing is attempted after it."""
    with Receiver(default=Reply(410, body=b"gone")) as receiver:
        endpoint, _ = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        decided(session, site, vault, settings)
        first, second = deliveries_of(session, endpoint)
        assert run(session, vault, first).status_code == 410
        assert run(session, vault, second) is None
    assert len(receiver.requests) == 1
    assert not endpoint.enabled and "410" in (endpoint.disabled_reason or "")
    assert first.status is DeliveryStatus.CANCELLED
    assert second.status is DeliveryStatus.CANCELLED
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.disabled"))
    assert entry is not None and entry.actor == "system"
    assert entry.detail["endpoint"] == endpoint.public_id


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_and_the_endpoint_throttled(
    status: int, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W6: 429 / 503 with Retry-After: 120 → the next attempt is at least 120 s later, and
    the whole endpoint waits (another due delivery is held back until then)."""
    with Receiver(default=Reply(status, {"Retry-After": "120"}, b"slow down")) as receiver:
        endpoint, _ = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        decided(session, site, vault, settings)
        first, second = deliveries_of(session, endpoint)
        t0 = utcnow()
        assert run(session, vault, first, t0).status_code == status
        assert first.next_attempt_at is not None
        assert first.next_attempt_at >= t0 + dt.timedelta(seconds=120)
        assert endpoint.paused_until is not None
        assert endpoint.paused_until >= t0 + dt.timedelta(seconds=120)
        assert run(session, vault, second, t0 + dt.timedelta(seconds=10)) is None
        assert second.next_attempt_at == endpoint.paused_until
    assert len(receiver.requests) == 1


def test_redirect_is_a_failure_and_not_followed(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W6: 302 to the canary: recorded as a failed attempt; the canary is never hit."""
    with (
        Receiver() as canary,
        Receiver(default=Reply(302, {"Location": canary.url("/admin")})) as receiver,
    ):
        endpoint, _ = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        assert run(session, vault, row).outcome == "redirect"
    assert canary.requests == []
    assert row.status is DeliveryStatus.PENDING and row.schedule_step == 1
    assert attempts_of(session, row)[0].status_code == 302


def test_slow_receiver_times_out_and_is_retried(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W7 (scaled down: a 1 s deadline, a receiver sleeping 3 s): the attempt ends as a
    timeout within the deadline plus a little, and is scheduled again."""
    config = DeliveryConfig(policy=LOOPBACK_OK, timeout=1.0, connect_timeout=1.0)
    with Receiver(default=Reply(200, sleep=3.0)) as receiver:
        endpoint, _ = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        started = time.monotonic()
        result = run(session, vault, row, config=config)
        elapsed = time.monotonic() - started
    assert result.outcome == "timeout"
    assert elapsed < 2.0
    assert row.status is DeliveryStatus.PENDING and row.lease_expires_at is None
    assert attempts_of(session, row)[0].outcome == "timeout"


def test_a_dripping_receiver_cannot_outlast_the_deadline() -> None:
    """The 15 s limit is for the whole exchange, not per read: a server that sends its
    headers one byte every 0.2 s is cut off at the deadline."""
    from core.webhooks import transport

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    target = ssrf.check(f"http://127.0.0.1:{port}/", LOOPBACK_OK)
    started = time.monotonic()
    result = transport.post(target, b"{}", {}, timeout=1.0, connect_timeout=1.0)
    elapsed = time.monotonic() - started
    stop.set()
    server.close()
    thread.join(timeout=5)
    assert result.outcome == "timeout"
    assert elapsed < 1.8


def test_default_timeouts_follow_the_spec() -> None:
    """W7: 15 s for the exchange, 5 s to connect; the lease outlasts an attempt, and the
    task's soft time limit (queueconfig) is far above it."""
    from core.queueconfig import TASK_SOFT_TIME_LIMIT

    config = DeliveryConfig.from_settings(Settings())
    assert (config.timeout, config.connect_timeout) == (15.0, 5.0)
    assert config.max_in_flight == 2
    assert config.disable_after == dt.timedelta(days=5)
    assert config.lease > dt.timedelta(seconds=config.timeout)
    assert config.lease.total_seconds() < TASK_SOFT_TIME_LIMIT


# -- replay, log, retention, at-least-once --------------------------------------------------


def test_replay_sends_the_same_id_with_a_fresh_timestamp(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W9: an exhausted delivery replayed: same webhook-id and body, new timestamp,
    audited, and the attempt is logged as a replay."""
    with Receiver([Reply(500)] * schedule.MAX_ATTEMPTS) as receiver:
        endpoint, secret = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        now = utcnow()
        run(session, vault, row, now)
        while row.status is DeliveryStatus.PENDING:
            assert row.next_attempt_at is not None
            now = row.next_attempt_at
            run(session, vault, row, now)
        assert row.status is DeliveryStatus.EXHAUSTED
        later = now + dt.timedelta(days=1)
        delivery.replay(session, endpoint, row.public_id, ADMIN, now=later)
        session.commit()
        assert row.status.value == "pending"
        assert run(session, vault, row, later).outcome == "success"
    first, last = receiver.requests[0], receiver.requests[-1]
    assert len(receiver.requests) == schedule.MAX_ATTEMPTS + 1
    assert first.headers["webhook-id"] == last.headers["webhook-id"]
    assert int(last.headers["webhook-timestamp"]) == int(later.timestamp())
    assert last.body == first.body
    assert reference_signature_matches(secret, last)
    assert row.status.value == "delivered"
    assert attempts_of(session, row)[-1].trigger == "replay"
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.replayed"))
    assert entry is not None and entry.before == "exhausted"
    assert entry.detail == {"endpoint": endpoint.public_id, "delivery": row.public_id}


def test_attempt_log_keeps_1_kb_and_no_secrets_then_is_pruned(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W10: time, latency, status and the first 1 KB of the answer; no secret anywhere in
    the log; finished deliveries go after the retention period."""
    with Receiver(default=Reply(200, body=b"x" * 5000)) as receiver:
        endpoint, secret = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        run(session, vault, row)
    (attempt,) = attempts_of(session, row)
    assert attempt.status_code == 200 and attempt.latency_ms >= 0
    assert attempt.response_excerpt == "x" * 1024
    assert attempt.attempted_at is not None
    signature = receiver.requests[0].headers["webhook-signature"]
    for value in (attempt.response_excerpt, attempt.error or "", row.last_error or "", row.body):
        assert secret not in value and secret.removeprefix("whsec_") not in value
        assert signature not in value
    assert delivery.prune(session, now=utcnow(), retention=dt.timedelta(days=30)) == 0
    later = utcnow() + dt.timedelta(days=31)
    assert delivery.prune(session, now=later, retention=dt.timedelta(days=30)) == 1
    session.commit()
    assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0


def test_a_lost_worker_means_a_second_attempt_with_the_same_id(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    receiver: Receiver,
    published: list[tuple[str, int]],
) -> None:
    """W17: the lease of an attempt whose worker died (never recorded) expires; the
    poller sends the delivery again and the receiver sees the same webhook-id twice."""
    endpoint, _ = register(session, site, vault, receiver.url())
    decided(session, site, vault, settings)
    (row,) = deliveries_of(session, endpoint)
    t0 = utcnow()
    claimed = delivery.claim(session, row.id, now=t0, config=CONFIG, vault=vault)
    session.commit()
    assert claimed is not None
    delivery.send(claimed, now=t0, config=CONFIG)  # ... and the worker dies here
    assert delivery.claim(session, row.id, now=t0, config=CONFIG, vault=vault) is None
    assert delivery.dispatch_due(session, now=t0 + dt.timedelta(seconds=30)) == []
    later = t0 + CONFIG.lease + dt.timedelta(seconds=1)
    assert delivery.dispatch_due(session, now=later) == [row.id]
    session.commit()
    assert (tasknames.DELIVER_WEBHOOK, row.id) in published
    assert run(session, vault, row, later).outcome == "success"
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert row.status is DeliveryStatus.DELIVERED


def test_early_and_duplicate_messages_do_nothing(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, receiver: Receiver
) -> None:
    endpoint, _ = register(session, site, vault, receiver.url())
    decided(session, site, vault, settings)
    (row,) = deliveries_of(session, endpoint)
    before = utcnow() - dt.timedelta(minutes=1)
    assert run(session, vault, row, before) is None  # not due yet at that time
    assert run(session, vault, row).outcome == "success"
    assert run(session, vault, row) is None  # delivered: a duplicate message does nothing
    assert len(receiver.requests) == 1


# -- concurrency cap ------------------------------------------------------------------------


def test_at_most_two_attempts_in_flight_per_endpoint(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    receiver: Receiver,
    published: list[tuple[str, int]],
) -> None:
    """W19: a third claim for the same endpoint waits while two are in flight; the attempt
    that finishes hands its slot over at once. Other endpoints are not affected."""
    endpoint, _ = register(session, site, vault, receiver.url())
    other, _ = register(session, site, vault, receiver.url("/other"))
    for _ in range(4):
        decided(session, site, vault, settings)
    a, b, c, queued = deliveries_of(session, endpoint)  # `queued`: its message is out
    (elsewhere, *_rest) = deliveries_of(session, other)
    now = utcnow()
    first = delivery.claim(session, a.id, now=now, config=CONFIG, vault=vault)
    second = delivery.claim(session, b.id, now=now, config=CONFIG, vault=vault)
    session.commit()
    assert first is not None and second is not None
    assert delivery.in_flight(session, endpoint.id, now) == 2
    assert delivery.claim(session, c.id, now=now, config=CONFIG, vault=vault) is None
    assert delivery.claim(session, elsewhere.id, now=now, config=CONFIG, vault=vault) is not None
    session.commit()
    assert c.status is DeliveryStatus.PENDING and c.lease_expires_at is None
    assert c.waiting_since == now and queued.waiting_since is None
    assert delivery.dispatch_due(session, now=now) == []  # the poller waits for a hand-over
    later = now + delivery.REDISPATCH_AFTER
    assert c.id in delivery.dispatch_due(session, now=later)  # ... its backstop
    c.dispatched_at = now  # as if that poll had not happened yet
    session.commit()
    published.clear()
    result = delivery.send(first, now=now, config=CONFIG)
    delivery.record(session, first, result, now=now, config=CONFIG)
    session.commit()
    assert published == [(tasknames.DELIVER_WEBHOOK, c.id)]
    assert delivery.claim(session, c.id, now=now, config=CONFIG, vault=vault) is not None


def test_pending_comment_in_held_status_triggers_held_event(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, receiver: Receiver
) -> None:
    """Endpoints hear only the events they subscribed to (here: held)."""
    from tests.support.moderation import held

    endpoint, secret = register(session, site, vault, receiver.url(), ("comment.held",))
    comment = held(session, site, vault, settings)
    (row,) = deliveries_of(session, endpoint)
    run(session, vault, row)
    payload = Webhook(secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert payload["type"] == "comment.held"
    assert payload["data"]["comment"]["id"] == comment.id
    assert session.get(Comment, comment.id) is not None
