"""Celery settings as plain data, shared by the worker (which consumes) and the API (which
only publishes), so both agree on serializer, queues and timeouts. No Celery import here.

Why these values (Celery's own docs and RELIABILITY.md):
- acks_late + reject_on_worker_lost + prefetch 1: a message is acknowledged only after its
  task finished, and a worker killed mid-task gives it back.
- visibility_timeout (1 h) > task_time_limit (5 min) > any retry countdown (≤ 60 s), so Redis
  never redelivers a task that is still running.
- The publisher never retries and times out after `broker_timeout_seconds`: the request path
  must not hang on Redis; the outbox sweeper re-sends what was not published.
"""

from __future__ import annotations

from typing import Any

from core import tasknames
from core.config import Settings

VISIBILITY_TIMEOUT = 3600
TASK_TIME_LIMIT = 300
TASK_SOFT_TIME_LIMIT = 240


def celery_config(settings: Settings, *, role: str) -> dict[str, Any]:
    """Celery configuration for `role` "worker" (consumes, runs beat) or "publisher" (API)."""
    transport: dict[str, Any] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    if role == "publisher":
        transport |= {
            "socket_timeout": settings.broker_timeout_seconds,
            "socket_connect_timeout": settings.broker_timeout_seconds,
            "max_retries": 0,
        }
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport,
        "broker_connection_timeout": settings.broker_timeout_seconds,
        "broker_connection_retry_on_startup": True,
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": TASK_TIME_LIMIT,
        "task_soft_time_limit": TASK_SOFT_TIME_LIMIT,
        "task_routes": {name: {"queue": queue} for name, queue in tasknames.TASK_QUEUES.items()},
        "task_default_queue": tasknames.QUEUE_MODERATION,
        "task_publish_retry": role != "publisher",
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 10.0,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
        "beat_schedule": {
            "sweep-outbox": {
                "task": tasknames.SWEEP_OUTBOX,
                "schedule": float(settings.sweep_interval_seconds),
                "options": {"queue": tasknames.QUEUE_MAINTENANCE},
            },
            "prune-accounts": {
                "task": tasknames.PRUNE_ACCOUNTS,
                "schedule": 3600.0,
                "options": {"queue": tasknames.QUEUE_MAINTENANCE},
            },
            "poll-webhooks": {
                "task": tasknames.POLL_WEBHOOKS,
                "schedule": float(settings.webhook_poll_seconds),
                "options": {"queue": tasknames.QUEUE_MAINTENANCE},
            },
            "prune-webhooks": {
                "task": tasknames.PRUNE_WEBHOOKS,
                "schedule": 3600.0,
                "options": {"queue": tasknames.QUEUE_MAINTENANCE},
            },
            "learn-sites": {
                "task": tasknames.LEARN_SITES,
                "schedule": float(settings.learn_interval_seconds),
                "options": {"queue": tasknames.QUEUE_MAINTENANCE},
            },
            "prune-ips": {
                "task": tasknames.PRUNE_IPS,
                "schedule": 3600.0,
                "options": {"queue": tasknames.QUEUE_MAINTENANCE},
            },
        },
    }
    return config
