"""Delivering a webhook: claim, send, record; the poller; replay; the delivery log; retention.

One attempt is three steps, so that no database transaction stays open while a receiver
takes its time (on SQLite that would hold the write lock, and moderation with it):

1. `claim` (a short transaction): the delivery must be pending and due with no attempt in
   flight; its endpoint must be enabled, not paused (429 / 502 / 503 / 504), and below its
   concurrency cap. The cap is counted in the database: an attempt in flight holds a
   lease (`lease_expires_at`), the endpoint row is locked while the leases are counted
   (SELECT … FOR UPDATE on PostgreSQL; SQLite has one writer at a time anyway), and a
   lease that outlives a dead worker simply expires. A delivery over the cap waits, and
   the attempt that frees a slot hands it over at once (`_hand_over`).
2. `send` (no transaction): the URL is checked again on fresh DNS answers, the body is
   signed with a fresh timestamp and POSTed to a checked address only.
3. `record` (a short transaction): the attempt row, then the outcome. 2xx: delivered.
   410: the endpoint is disabled. Anything else: the next attempt per the schedule (or
   Retry-After, whichever is later), `exhausted` after the last one; an endpoint that
   has failed for `disable_after` (5 days) without a success is disabled.

Delivery is at least once: a worker that dies after the receiver answered but before
`record` committed leaves a lease that expires, and the poller sends the delivery again
with the same `webhook-id`; receivers deduplicate on it.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from core import audit, outbox, tasknames
from core.access import Principal
from core.config import Settings
from core.errors import DeliveryInFlight, DeliveryNotFound, WebhookDisabled, WebhookUrlBlocked
from core.privacy import PrivacyVault
from core.webhooks import endpoints, schedule, signing, ssrf, transport
from models import DeliveryStatus, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from models.base import utcnow

log = logging.getLogger(__name__)

# A delivery whose task message was sent this long ago and that is still due is sent
# again by the poller (the message was lost, or its worker died).
REDISPATCH_AFTER = dt.timedelta(seconds=60)
# The lease outlasts the longest possible attempt (DNS, connect, the 15 s deadline).
LEASE_MARGIN = dt.timedelta(seconds=45)
# Statuses that mean "slow down": the whole endpoint waits, not just this delivery.
THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
GONE = 410

Scope = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class DeliveryConfig:
    """How attempts are made; `from_settings` in production, tests inject the rest."""

    policy: ssrf.UrlPolicy = field(default_factory=ssrf.UrlPolicy)
    max_in_flight: int = 2
    timeout: float = 15.0
    connect_timeout: float = 5.0
    disable_after: dt.timedelta = dt.timedelta(hours=120)
    retention: dt.timedelta = dt.timedelta(days=30)
    resolver: ssrf.Resolver = ssrf.system_resolver
    connector: transport.Connector = transport.open_connection

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.timeout) + LEASE_MARGIN

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DeliveryConfig:
        values: dict[str, Any] = {
            "policy": ssrf.UrlPolicy.from_settings(settings),
            "max_in_flight": settings.webhook_max_in_flight,
            "timeout": settings.webhook_timeout_seconds,
            "connect_timeout": settings.webhook_connect_timeout_seconds,
            "disable_after": dt.timedelta(hours=settings.webhook_disable_after_hours),
            "retention": dt.timedelta(days=settings.webhook_retention_days),
        }
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class Claim:
    """What one attempt needs, detached from the session (secrets only in memory)."""

    delivery_id: int
    endpoint_id: int
    webhook_id: str
    url: str
    body: bytes
    secrets: tuple[str, ...]
    claimed_at: dt.datetime
    trigger: str


def _locked_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    return session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update()
    )


def _locked_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )


def in_flight(session: Session, endpoint_id: int, now: dt.datetime) -> int:
    """Attempts of this endpoint running now (unexpired leases)."""
    count = session.scalar(
        select(func.count())
        .select_from(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.lease_expires_at > now,
        )
    )
    return int(count or 0)


def claim(
    session: Session,
    delivery_id: int,
    *,
    now: dt.datetime,
    config: DeliveryConfig,
    vault: PrivacyVault,
) -> Claim | None:
    """Take the lease for one attempt, or None if this delivery must not be attempted
    now (not due, done, in flight, endpoint off, paused or at its cap). The caller
    commits before sending."""
    endpoint_id = session.scalar(
        select(WebhookDelivery.endpoint_id).where(WebhookDelivery.id == delivery_id)
    )
    if endpoint_id is None:
        return None
    # Lock order everywhere: endpoint, then delivery (so claims never deadlock).
    endpoint = _locked_endpoint(session, endpoint_id)
    delivery = _locked_delivery(session, delivery_id)
    if endpoint is None or delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return None
    if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
        return None  # an early or duplicate message: the poller sends it when due
    if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
        return None  # another worker is attempting it right now
    if not endpoint.enabled:
        delivery.status = DeliveryStatus.CANCELLED
        delivery.next_attempt_at = None
        delivery.last_error = f"endpoint disabled: {endpoint.disabled_reason or ''}"[:300]
        return None
    if endpoint.paused_until is not None and endpoint.paused_until > now:
        delivery.next_attempt_at = endpoint.paused_until
        delivery.dispatched_at = None  # the poller sends it when the pause ends
        delivery.waiting_since = None
        return None
    if in_flight(session, endpoint.id, now) >= config.max_in_flight:
        # Wait for a slot: the attempt that frees one hands it over at once; the poller
        # sends it again after REDISPATCH_AFTER only if that hand-over was lost.
        delivery.waiting_since = delivery.waiting_since or now
        delivery.dispatched_at = now
        return None
    delivery.waiting_since = None
    delivery.lease_expires_at = now + config.lease
    delivery.dispatched_at = None  # its message is consumed: once the lease expires
    # (a worker died mid-attempt) the poller may send it again at once
    webhook_id = session.scalar(select(Event.public_id).where(Event.id == delivery.event_id))
    assert webhook_id is not None  # events are never deleted
    replaying = delivery.attempt_count > 0 and delivery.schedule_step == 0
    return Claim(
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        webhook_id=webhook_id,
        url=endpoint.url,
        body=delivery.body.encode("utf-8"),
        secrets=endpoints.signing_secrets(endpoint, now=now, vault=vault),
        claimed_at=now,
        trigger="replay" if replaying else "schedule",
    )


def send(claimed: Claim, *, now: dt.datetime, config: DeliveryConfig) -> transport.SendResult:
    """Check the URL on fresh DNS answers, sign with `now` and POST. Never raises."""
    try:
        target = ssrf.check(claimed.url, config.policy, config.resolver)
    except WebhookUrlBlocked as exc:
        return transport.SendResult("blocked_url", 0, error=f"{exc.reason}: {exc.message}"[:300])
    headers = signing.headers(
        claimed.secrets, claimed.webhook_id, int(now.timestamp()), claimed.body
    )
    try:
        return transport.post(
            target,
            claimed.body,
            headers,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            connector=config.connector,
        )
    except Exception as exc:  # a bug must not strand the lease: record it as a failure
        log.exception("webhook send failed unexpectedly", extra={"delivery": claimed.delivery_id})
        return transport.SendResult("connection_error", 0, error=type(exc).__name__)


def _disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    cancelled = endpoints.disable(session, endpoint, reason)
    audit.record(
        session,
        endpoints.SYSTEM,
        "webhook.disabled",
        site_id=endpoint.site_id,
        before="enabled",
        after="disabled",
        detail={"endpoint": endpoint.public_id, "reason": reason, "cancelled": cancelled},
    )
    log.warning(
        "webhook endpoint disabled",
        extra={"endpoint": endpoint.public_id, "reason": reason, "cancelled": cancelled},
    )


def record(
    session: Session,
    claimed: Claim,
    result: transport.SendResult,
    *,
    now: dt.datetime,
    config: DeliveryConfig,
    rng: random.Random | None = None,
) -> WebhookDelivery | None:
    """Store the attempt and decide what happens next; releases the lease. The caller
    commits. None if the endpoint or delivery was deleted meanwhile."""
    endpoint = _locked_endpoint(session, claimed.endpoint_id)
    delivery = _locked_delivery(session, claimed.delivery_id)
    if endpoint is None or delivery is None:
        return None
    delivery.lease_expires_at = None
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=claimed.claimed_at,
            latency_ms=result.latency_ms,
            outcome=result.outcome,
            status_code=result.status_code,
            response_excerpt=result.excerpt[: transport.EXCERPT_BYTES],
            error=result.error,
            trigger=claimed.trigger,
        )
    )
    delivery.attempt_count += 1
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    if delivery.status is not DeliveryStatus.PENDING:
        return delivery  # cancelled while the attempt ran (endpoint disabled)
    if result.succeeded:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        endpoint.failing_since = None
    elif result.status_code == GONE:
        _disable(session, endpoint, "the receiver answered 410 Gone")
    else:
        _schedule_retry(session, endpoint, delivery, result, now=now, config=config, rng=rng)
    if endpoint.enabled:
        _hand_over(session, endpoint, delivery, now)
    return delivery


def _schedule_retry(
    session: Session,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    result: transport.SendResult,
    *,
    now: dt.datetime,
    config: DeliveryConfig,
    rng: random.Random | None,
) -> None:
    endpoint.failing_since = endpoint.failing_since or now
    if now - endpoint.failing_since >= config.disable_after:
        hours = int(config.disable_after.total_seconds() // 3600)
        _disable(session, endpoint, f"every attempt failed for {hours} hours")
        return
    delivery.schedule_step += 1
    delay = schedule.delay_after(delivery.schedule_step, rng)
    asked = dt.timedelta(seconds=result.retry_after or 0)
    if result.status_code in THROTTLE_STATUSES:
        pause_until = now + max(asked, delay or dt.timedelta(0))
        if endpoint.paused_until is None or endpoint.paused_until < pause_until:
            endpoint.paused_until = pause_until
    if delay is None:
        delivery.status = DeliveryStatus.EXHAUSTED
        delivery.next_attempt_at = None
        log.error(  # the operator alert: this event will not reach the endpoint by itself
            "webhook delivery exhausted",
            extra={
                "delivery": delivery.public_id,
                "endpoint": endpoint.public_id,
                "attempts": delivery.attempt_count,
                "last_error": result.error,
            },
        )
        return
    delivery.next_attempt_at = now + max(delay, asked)
    delivery.dispatched_at = None  # the poller sends it when due


def _hand_over(
    session: Session, endpoint: WebhookEndpoint, finished: WebhookDelivery, now: dt.datetime
) -> None:
    """A slot just freed up: send the delivery of this endpoint that has waited longest for
    one (turned away by the cap) now, rather than at the poller's next look. Deliveries
    whose message is still queued are left to arrive by themselves."""
    if endpoint.paused_until is not None and endpoint.paused_until > now:
        return
    waiting = session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.id != finished.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.waiting_since.is_not(None),
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at <= now,
            ),
        )
        .order_by(WebhookDelivery.waiting_since, WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if waiting is not None:
        waiting.dispatched_at = now
        outbox.publish_after_commit(session, tasknames.DELIVER_WEBHOOK, waiting.id)


def attempt(
    scope: Scope,
    delivery_id: int,
    *,
    config: DeliveryConfig,
    vault: PrivacyVault,
    clock: Callable[[], dt.datetime] = utcnow,
    rng: random.Random | None = None,
) -> transport.SendResult | None:
    """Claim, send and record one attempt; `scope()` opens one committed transaction per
    step. Returns the send result, or None when nothing was attempted."""
    with scope() as session:
        claimed = claim(session, delivery_id, now=clock(), config=config, vault=vault)
    if claimed is None:
        return None
    result = send(claimed, now=clock(), config=config)
    with scope() as session:
        record(session, claimed, result, now=clock(), config=config, rng=rng)
    log.info(
        "webhook attempt",
        extra={
            "delivery_id": delivery_id,
            "outcome": result.outcome,
            "status": result.status_code,
            "latency_ms": result.latency_ms,
        },
    )
    return result


def dispatch_due(session: Session, *, now: dt.datetime, limit: int = 500) -> list[int]:
    """The poller: mark due deliveries as dispatched and send their tasks after the
    caller's commit (rows claimed with SKIP LOCKED, so two pollers never send one twice)."""
    rows = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            or_(
                WebhookDelivery.dispatched_at.is_(None),
                WebhookDelivery.dispatched_at <= now - REDISPATCH_AFTER,
            ),
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at <= now,
            ),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        row.dispatched_at = now
        outbox.publish_after_commit(session, tasknames.DELIVER_WEBHOOK, row.id)
    if rows:
        log.info("webhooks due", extra={"dispatched": len(rows)})
    return [row.id for row in rows]


def get_delivery(session: Session, endpoint: WebhookEndpoint, public_id: str) -> WebhookDelivery:
    delivery = session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.public_id == public_id, WebhookDelivery.endpoint_id == endpoint.id
        )
    )
    if delivery is None:
        raise DeliveryNotFound("no such delivery for this endpoint")
    return delivery


def replay(
    session: Session,
    endpoint: WebhookEndpoint,
    public_id: str,
    principal: Principal,
    *,
    now: dt.datetime,
) -> WebhookDelivery:
    """Send a delivery again, whatever its state: same body and webhook-id, a fresh
    timestamp, and a new round of the retry schedule if it fails. Audited."""
    delivery = get_delivery(session, endpoint, public_id)
    if not endpoint.enabled:
        raise WebhookDisabled("Enable the endpoint before replaying its deliveries.")
    if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
        raise DeliveryInFlight("An attempt of this delivery is running; try again shortly.")
    before = delivery.status.value
    delivery.status = DeliveryStatus.PENDING
    delivery.schedule_step = 0
    delivery.next_attempt_at = now
    delivery.dispatched_at = now
    delivery.delivered_at = None
    outbox.publish_after_commit(session, tasknames.DELIVER_WEBHOOK, delivery.id)
    audit.record(
        session,
        principal,
        "webhook.replayed",
        site_id=endpoint.site_id,
        before=before,
        after=DeliveryStatus.PENDING.value,
        detail={"endpoint": endpoint.public_id, "delivery": delivery.public_id},
    )
    return delivery


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[WebhookDelivery]
    attempts: dict[int, list[WebhookAttempt]]
    events: dict[int, Event]
    next_before: int | None


def log_page(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    status: DeliveryStatus | None = None,
    before: int | None = None,
    limit: int = 50,
) -> DeliveryPage:
    """The endpoint's deliveries newest first with their attempts, keyset-paginated."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = list(session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return DeliveryPage(
        rows,
        attempts_of(session, [row.id for row in rows]),
        events_of(session, [row.event_id for row in rows]),
        rows[-1].id if more and rows else None,
    )


def attempts_of(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        for row in session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.id)
        ):
            found[row.delivery_id].append(row)
    return found


def events_of(session: Session, event_ids: Sequence[int]) -> dict[int, Event]:
    if not event_ids:
        return {}
    return {e.id: e for e in session.scalars(select(Event).where(Event.id.in_(set(event_ids))))}


def prune(session: Session, *, now: dt.datetime, retention: dt.timedelta) -> int:
    """Delete finished deliveries (and their attempt logs) older than `retention`."""
    old = select(WebhookDelivery.id).where(
        WebhookDelivery.status != DeliveryStatus.PENDING,
        WebhookDelivery.created_at < now - retention,
    )
    ids = list(session.scalars(old.limit(5000)))
    if not ids:
        return 0
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)
