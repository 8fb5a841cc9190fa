"""Webhook tasks: deliver one delivery (on the `webhooks` queue), find due deliveries and
prune old ones (beat, on `maintenance`). Thin: ids in, core.webhooks decides.

`deliver_webhook` is idempotent: core.webhooks.delivery.claim takes a lease only on a
pending delivery that is due and not in flight, so a duplicate or early message does
nothing. Each of its steps commits on its own, so no transaction stays open while a
receiver takes up to 15 s to answer.
"""

from __future__ import annotations

from functools import cache

from celery import shared_task
from sqlalchemy.exc import OperationalError

from core import tasknames
from core.webhooks import delivery
from models.base import utcnow
from models.db import session_scope
from workers.celery_app import session_factory, settings, vault


@cache
def delivery_config() -> delivery.DeliveryConfig:
    return delivery.DeliveryConfig.from_settings(settings())


@shared_task(
    name=tasknames.DELIVER_WEBHOOK,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),  # the database, not the receiver: short retries
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def deliver_webhook(delivery_id: int) -> None:
    """One attempt of one delivery, if it is due (the retry schedule lives in the DB)."""
    delivery.attempt(
        lambda: session_scope(session_factory()),
        delivery_id,
        config=delivery_config(),
        vault=vault(),
    )


@shared_task(name=tasknames.POLL_WEBHOOKS, acks_late=True, ignore_result=True)
def poll_webhooks() -> int:
    """Send the tasks of deliveries that are due (retries, lost messages); how many."""
    with session_scope(session_factory()) as session:  # published after this commit
        return len(delivery.dispatch_due(session, now=utcnow()))


@shared_task(name=tasknames.PRUNE_WEBHOOKS, acks_late=True, ignore_result=True)
def prune_webhooks() -> int:
    """Delete finished deliveries past the retention period; how many went."""
    with session_scope(session_factory()) as session:
        return delivery.prune(session, now=utcnow(), retention=delivery_config().retention)
