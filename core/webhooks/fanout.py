"""Events become deliveries, in the transaction of the decision that caused them.

For each enabled endpoint of the event's site subscribed to its type, one delivery row is
written with the exact body it will send (the Standard Webhooks envelope
`{"id", "type", "timestamp", "data"}`, compact JSON) and is due at once. Its task is
published only after the transaction commits (`outbox.publish_after_commit`); if that
message is lost, the delivery row itself is the record that work is due, and the beat
poller (core.webhooks.delivery.dispatch_due) sends it again. A rolled-back decision
leaves neither an event nor a delivery, so nothing is announced that did not happen.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import outbox, tasknames
from models import Event, WebhookDelivery, WebhookEndpoint
from models.base import utcnow

TEST_EVENT = "webhook.test"


def envelope(event: Event) -> str:
    """The body every delivery of `event` sends, byte for byte."""
    created = event.created_at or utcnow()
    data = {key: value for key, value in event.payload.items() if key != "type"}
    return json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "timestamp": created.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _deliver(
    session: Session, event: Event, endpoint: WebhookEndpoint, body: str
) -> WebhookDelivery:
    now = utcnow()
    delivery = WebhookDelivery(
        public_id="dlv_" + secrets.token_urlsafe(12),
        endpoint_id=endpoint.id,
        event_id=event.id,
        body=body,
        next_attempt_at=now,
        dispatched_at=now,  # published after commit; the poller re-sends if that is lost
    )
    session.add(delivery)
    session.flush()
    outbox.publish_after_commit(session, tasknames.DELIVER_WEBHOOK, delivery.id)
    return delivery


def fan_out(session: Session, event: Event) -> list[WebhookDelivery]:
    """A delivery of `event` for every enabled endpoint of its site subscribed to it."""
    endpoints = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.site_id == event.site_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    subscribed = [endpoint for endpoint in endpoints if event.type in endpoint.events]
    if not subscribed:
        return []
    session.flush()  # the event's id and created_at
    body = envelope(event)
    return [_deliver(session, event, endpoint, body) for endpoint in subscribed]


def ping(session: Session, endpoint: WebhookEndpoint, site_key: str) -> WebhookDelivery:
    """A `webhook.test` event delivered to this endpoint only (subscribed or not)."""
    event = Event(
        public_id="evt_" + secrets.token_urlsafe(18),
        site_id=endpoint.site_id,
        type=TEST_EVENT,
        comment_id=None,
        payload={
            "version": 1,
            "type": TEST_EVENT,
            "site": site_key,
            "endpoint": endpoint.public_id,
            "message": "A test delivery from Replyguard.",
        },
    )
    session.add(event)
    session.flush()
    return _deliver(session, event, endpoint, envelope(event))
