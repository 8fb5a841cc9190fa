"""The Celery app, built from Settings (`celery -A workers.celery_app worker`).

Nothing decides here: tasks in workers.tasks call core. The database session factory is
created lazily per process (after the prefork pool forks) and the outbox publisher is
installed on it, so tasks that enqueue (the sweeper) send only after their commit; so is
the read-cache invalidator, so decisions refresh public threads after their commit.
"""

from __future__ import annotations

import logging
from functools import cache

from celery import Celery
from celery.signals import after_setup_logger, worker_process_init
from sqlalchemy.orm import Session, sessionmaker

from core import outbox, readcache, tasknames
from core.config import Settings
from core.devkeys import with_dev_keys
from core.logformat import OneLineFormatter
from core.privacy import PrivacyVault
from core.queueconfig import celery_config
from models.db import make_engine, make_sessionmaker


@cache
def settings() -> Settings:
    """This process's Settings (read once from the environment)."""
    loaded = Settings.from_env()
    loaded.check_production_safety()
    return with_dev_keys(loaded)


def make_celery(config: Settings) -> Celery:
    """A Celery app configured for `config` and its tasks registered."""
    app = Celery("replyguard", set_as_current=True)
    app.conf.update(celery_config(config, role="worker"))
    app.conf.update(include=["workers.tasks", "workers.webhook_tasks"])
    return app


celery_app = make_celery(settings())
app = celery_app  # `celery -A workers.celery_app` finds `app`


@cache
def session_factory() -> sessionmaker[Session]:
    """Sessions for tasks; the outbox publisher sends what they enqueue after commit."""
    engine = make_engine(
        settings().database_url, application_name="replyguard-worker", hide_parameters=True
    )
    factory = make_sessionmaker(engine)
    outbox.install_publisher(factory, publish)
    # Decisions that change a public thread invalidate its read cache after the commit.
    readcache.install_invalidator(factory, readcache.ReadCache.from_settings(settings()))
    return factory


@cache
def vault() -> PrivacyVault:
    return PrivacyVault(settings())


def publish(task_name: str, ref_id: int) -> None:
    """Send one task by its stable name to its queue."""
    celery_app.send_task(task_name, args=[ref_id], queue=tasknames.TASK_QUEUES[task_name])


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs: object) -> None:
    # A pool child must not reuse database connections inherited from the parent.
    session_factory.cache_clear()


@after_setup_logger.connect
def _one_line_logs(logger: object, **_kwargs: object) -> None:
    for handler in getattr(logger, "handlers", []):
        handler.setFormatter(OneLineFormatter())
    # "Task received" adds nothing to the "decided" and "succeeded" lines that follow, and
    # at hundreds of comments a second its formatting is a sixth of a task's CPU.
    logging.getLogger("celery.worker.strategy").setLevel(logging.WARNING)
