"""The API's side of the queue: publish outbox tasks by name after commit.

The API never imports task functions, and on the request path it does not go through
Celery's producer machinery either: a task message is Celery's message protocol v2 in
kombu's Redis envelope, pushed with one LPUSH onto the queue's list (what kombu's Redis
transport does for a direct route; tests compare our envelope with the one Celery builds
and a real worker consumes it). That takes one round trip instead of kombu's two plus a
client per publish, which was a sixth of a submission's CPU. No retries and short socket
timeouts: a failed publish is only logged, and the outbox sweeper re-sends it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from typing import Any

import redis
from flask import Flask

from core import outbox, tasknames
from core.config import Settings
from core.redisclient import redis_client_for

# The part of a protocol-2 body after the positional args: kwargs and an empty canvas.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class TaskPublisher:
    """Sends `task_name(ref_id)` to the task's queue as a Celery task message."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._origin = f"gen{os.getpid()}@{socket.gethostname()}"
        self._reply_to = str(uuid.uuid4())

    def message(self, task_name: str, ref_id: int, queue: str) -> dict[str, Any]:
        """The envelope kombu's Redis transport stores for a task sent with send_task."""
        task_id = str(uuid.uuid4())
        body = json.dumps([[ref_id], {}, _EMBED]).encode()
        return {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": task_name,
                "id": task_id,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": task_id,
                "parent_id": None,
                "argsrepr": f"[{ref_id}]",
                "kwargsrepr": "{}",
                "origin": self._origin,
                "ignore_result": None,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": self._reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }

    def __call__(self, task_name: str, ref_id: int) -> None:
        queue = tasknames.TASK_QUEUES[task_name]
        self._client.lpush(queue, json.dumps(self.message(task_name, ref_id, queue)))


def make_publisher(settings: Settings) -> outbox.Publisher:
    """A function that sends one task by name; raises if the broker is unreachable."""
    return TaskPublisher(redis_client_for(settings.broker_url, settings.broker_timeout_seconds))


def init_app(app: Flask, settings: Settings) -> None:
    """Install the after-commit publisher on the app's session factory."""
    outbox.install_publisher(app.extensions["sessionmaker"], make_publisher(settings))
