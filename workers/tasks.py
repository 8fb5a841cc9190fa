"""Thin tasks: ids in, one session scope, core decides.

`moderate` is idempotent (a decided comment is left alone, and the status change is a
compare-and-set), so a redelivered or re-swept message does no harm. A CheckUnavailable
is retried with backoff; after the last retry the comment is held for a human.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from sqlalchemy.exc import OperationalError

from core import accounts, learning, moderation, retention, sweeper, tasknames
from core.checks import CheckUnavailable
from models.db import session_scope
from workers.celery_app import publish, session_factory, settings, vault

log = logging.getLogger(__name__)


@shared_task(
    name=tasknames.MODERATE,
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def moderate(self: Any, comment_id: int) -> None:
    """Decide one PENDING comment with the checks pipeline."""
    max_attempts = settings().max_attempts
    if (self.request.delivery_info or {}).get("redelivered"):
        # Given back by a worker that died on it: count this run before starting.
        with session_scope(session_factory()) as session:
            if not moderation.begin_attempt(session, comment_id, max_attempts=max_attempts):
                return
    try:
        with session_scope(session_factory()) as session:
            moderation.moderate(session, comment_id, vault=vault())
    except CheckUnavailable as exc:
        try:
            raise self.retry(exc=exc, countdown=min(60, 2**self.request.retries))
        except MaxRetriesExceededError:
            with session_scope(session_factory()) as session:
                moderation.hold_for_human(session, comment_id, f"a check could not run: {exc}")
    except OperationalError:
        raise  # the database, not the comment: retried with backoff by autoretry_for
    except Exception:
        with session_scope(session_factory()) as session:
            moderation.begin_attempt(session, comment_id, max_attempts=max_attempts)
        raise


@shared_task(name=tasknames.SWEEP_OUTBOX, acks_late=True, ignore_result=True)
def sweep_outbox() -> int:
    """Re-send outbox entries whose task has not completed in time; returns how many."""
    with session_scope(session_factory()) as session:
        to_send = sweeper.sweep(session, settings())
    sent = 0
    for task_name, ref_id in to_send:
        try:
            publish(task_name, ref_id)
            sent += 1
        except Exception as exc:  # the next sweep tries again
            log.warning("re-send failed", extra={"ref_id": ref_id, "error": type(exc).__name__})
    return sent


@shared_task(name=tasknames.PRUNE_ACCOUNTS, acks_late=True, ignore_result=True)
def prune_accounts() -> int:
    """Delete expired login attempts and ended sessions; returns how many rows went."""
    with session_scope(session_factory()) as session:
        pruned = accounts.prune(session, settings())
    return pruned.login_attempts + pruned.sessions


@shared_task(name=tasknames.LEARN_SITES, acks_late=True, ignore_result=True)
def learn_sites() -> int:
    """Fine-tune the models of every site with new moderator labels; returns how many
    models were trained. Each site commits on its own, so one bad site does not stop
    the others."""
    trained = 0
    with session_scope(session_factory()) as session:
        site_ids = learning.sites_with_new_labels(session)
    for site_id in site_ids:
        with session_scope(session_factory()) as session:
            trained += sum(r.trained for r in learning.learn_site(session, site_id))
    return trained


@shared_task(name=tasknames.PRUNE_IPS, acks_late=True, ignore_result=True)
def prune_ips() -> int:
    """Drop the IP index and prefix of comments older than the retention period, one
    committed batch at a time; returns how many comments lost them."""
    pruned = 0
    with session_scope(session_factory()) as session:
        for count in retention.prune_batches(session, settings().ip_retention_days):
            session.commit()
            pruned += count
    return pruned
