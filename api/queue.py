"""The API's side of the queue: publish outbox tasks by name after commit.

The API never imports task functions; it sends by the stable names in core.tasknames,
with no publish retries and short socket timeouts, and a failed publish is only logged
(the outbox sweeper re-sends it).
"""

from __future__ import annotations

from celery import Celery
from flask import Flask

from core import outbox, tasknames
from core.config import Settings
from core.queueconfig import celery_config


def make_publisher(settings: Settings) -> outbox.Publisher:
    """A function that sends one task by name; raises if the broker is unreachable."""
    producer = Celery("replyguard-api", set_as_current=False)
    producer.conf.update(celery_config(settings, role="publisher"))

    def publish(task_name: str, ref_id: int) -> None:
        producer.send_task(
            task_name, args=[ref_id], queue=tasknames.TASK_QUEUES[task_name], retry=False
        )

    return publish


def init_app(app: Flask, settings: Settings) -> None:
    """Install the after-commit publisher on the app's session factory."""
    outbox.install_publisher(app.extensions["sessionmaker"], make_publisher(settings))
