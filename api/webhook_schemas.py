"""Wire formats of the webhooks API: what admins send to register or change an endpoint, and
how endpoints, deliveries and attempts look. An endpoint's secret appears in exactly two
answers (registration and rotation) and nowhere else; attempts show what the receiver
answered, never what we sent in headers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from core.events import EVENT_TYPES
from core.webhooks import ssrf
from models import DeliveryStatus, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENT_NAMES = list(EVENT_TYPES)
STATUS_NAMES = [s.value for s in DeliveryStatus]


class EndpointCreateSchema(Schema):
    """`{"url": ..., "events": [...], "description": ...}`."""

    class Meta:
        unknown = RAISE

    url = fields.String(required=True, validate=validate.Length(min=1, max=ssrf.MAX_URL_LENGTH))
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_NAMES)),
        required=True,
        validate=validate.Length(min=1, max=len(EVENT_NAMES)),
    )
    description = fields.String(load_default="", validate=validate.Length(max=200))


class EndpointUpdateSchema(Schema):
    """Any of `url`, `events`, `description`, `enabled`."""

    class Meta:
        unknown = RAISE

    url = fields.String(validate=validate.Length(min=1, max=ssrf.MAX_URL_LENGTH))
    events = fields.List(
        fields.String(validate=validate.OneOf(EVENT_NAMES)),
        validate=validate.Length(min=1, max=len(EVENT_NAMES)),
    )
    description = fields.String(validate=validate.Length(max=200))
    enabled = fields.Boolean()


class DeliveryArgsSchema(Schema):
    """Query arguments of the delivery log."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf(STATUS_NAMES))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def dump_endpoint(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.public_id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": _when(endpoint.failing_since),
        "paused_until": _when(endpoint.paused_until),
        "previous_secret_expires_at": _when(endpoint.previous_secret_expires_at),
        "created_at": _when(endpoint.created_at),
    }


def dump_attempt(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "attempted_at": _when(attempt.attempted_at),
        "trigger": attempt.trigger,
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "latency_ms": attempt.latency_ms,
        "response": attempt.response_excerpt,
        "error": attempt.error,
    }


def dump_delivery(
    delivery: WebhookDelivery, event: Event | None, attempts: list[WebhookAttempt]
) -> dict[str, Any]:
    return {
        "id": delivery.public_id,
        "webhook_id": event.public_id if event else None,
        "event_type": event.type if event else None,
        "comment_id": event.comment_id if event else None,
        "status": delivery.status.value,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": _when(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": _when(delivery.delivered_at),
        "created_at": _when(delivery.created_at),
        "attempts": [dump_attempt(a) for a in attempts],
    }
