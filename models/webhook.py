"""Webhook endpoints a site registers, the deliveries of events to them, and every attempt.

A delivery row is its own outbox: `next_attempt_at` says when it is due, `dispatched_at`
when a task message was last sent for it, and `lease_expires_at` marks an attempt in
flight (it also counts towards the endpoint's concurrency cap). The exact body sent is
stored once, so every attempt sends, and signs, the same bytes.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import Event
from models.base import Base, created_at


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands. Only `pending` deliveries are ever attempted."""

    PENDING = "pending"  # waiting for its next attempt (`next_attempt_at`)
    DELIVERED = "delivered"  # a 2xx answer
    EXHAUSTED = "exhausted"  # the retry schedule ran out
    CANCELLED = "cancelled"  # its endpoint was disabled or answered 410


class WebhookEndpoint(Base):
    """A URL of a site that hears about events. The signing secret is stored encrypted;
    during a rotation the previous one keeps signing until `previous_secret_expires_at`."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_site_id_enabled", "site_id", "enabled"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # "ep_…"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(32))
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_secret_key_id: Mapped[str | None] = mapped_column(String(32))
    previous_secret_expires_at: Mapped[dt.datetime | None]
    # Start of the current run of failed attempts (None after a success): an endpoint
    # failing for long enough is disabled.
    failing_since: Mapped[dt.datetime | None]
    # The receiver asked us to slow down (429, 502, 503, 504): nothing is sent before this.
    paused_until: Mapped[dt.datetime | None]
    created_at: Mapped[created_at]


class WebhookDelivery(Base):
    """One event for one endpoint. Its `webhook-id` is the event's public id on every
    attempt, replays included."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_endpoint_id_lease", "endpoint_id", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # "dlv_…"
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON text sent, UTF-8 on the wire
    status: Mapped[DeliveryStatus] = mapped_column(
        Enum(
            DeliveryStatus,
            native_enum=False,
            create_constraint=True,
            length=16,
            name="delivery_status",
            values_callable=lambda e: [m.value for m in e],
        ),
        default=DeliveryStatus.PENDING,
    )
    # How many attempts were made in all, and how far along the retry schedule the
    # current round is (a replay starts a new round).
    attempt_count: Mapped[int] = mapped_column(default=0)
    schedule_step: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    dispatched_at: Mapped[dt.datetime | None]
    lease_expires_at: Mapped[dt.datetime | None]
    # Turned away by the endpoint's concurrency cap at this time: the next attempt of the
    # endpoint to finish hands its slot to the longest-waiting such delivery.
    waiting_since: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_at]

    endpoint: Mapped[WebhookEndpoint] = relationship()
    event: Mapped[Event] = relationship()


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: when, how long, what came back (the first 1 KB of
    the response body; never a request header, so never a signature or secret)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    attempted_at: Mapped[dt.datetime]
    latency_ms: Mapped[int]
    # success | http_error | redirect | timeout | connection_error | blocked_url
    outcome: Mapped[str] = mapped_column(String(20))
    status_code: Mapped[int | None]
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(String(300))
    trigger: Mapped[str] = mapped_column(String(12), default="schedule")  # schedule | replay
