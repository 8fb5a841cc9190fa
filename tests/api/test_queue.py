"""The API's publisher writes exactly the message Celery itself would (same envelope, same
headers), so a real worker consumes it; the integration tests prove the consuming end."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from api.queue import TaskPublisher, make_publisher
from core import tasknames
from core.config import Settings
from core.queueconfig import celery_config
from core.redisclient import redis_client_for
from tests.support.databases import REDIS_URL


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def pushed(broker: redis.Redis) -> dict[str, Any]:
    [raw] = broker.lrange(tasknames.QUEUE_MODERATION, 0, -1)
    message: dict[str, Any] = json.loads(raw)
    broker.delete(tasknames.QUEUE_MODERATION)
    return message


def test_envelope_matches_celerys_own(broker: redis.Redis) -> None:
    settings = Settings(broker_url=REDIS_URL)
    celery = Celery("reference", set_as_current=False)
    celery.conf.update(celery_config(settings, role="publisher"))
    celery.send_task(tasknames.MODERATE, args=[7], queue=tasknames.QUEUE_MODERATION)
    reference = pushed(broker)

    make_publisher(settings)(tasknames.MODERATE, 7)
    ours = pushed(broker)

    assert ours.keys() == reference.keys()
    assert ours["headers"].keys() == reference["headers"].keys()
    assert ours["properties"].keys() == reference["properties"].keys()
    assert ours["properties"]["delivery_info"] == reference["properties"]["delivery_info"]
    same = ("content-type", "content-encoding")
    assert {k: ours[k] for k in same} == {k: reference[k] for k in same}
    for key in ("task", "argsrepr", "kwargsrepr", "retries", "lang", "timelimit"):
        assert ours["headers"][key] == reference["headers"][key], key
    assert base64.b64decode(ours["body"]) == base64.b64decode(reference["body"])
    assert (
        ours["headers"]["root_id"] == ours["headers"]["id"] == ours["properties"]["correlation_id"]
    )


def test_each_message_has_its_own_ids(broker: redis.Redis) -> None:
    publisher = TaskPublisher(redis.Redis.from_url(REDIS_URL))
    first = publisher.message(tasknames.MODERATE, 1, tasknames.QUEUE_MODERATION)
    second = publisher.message(tasknames.MODERATE, 1, tasknames.QUEUE_MODERATION)
    assert first["headers"]["id"] != second["headers"]["id"]
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]


def test_unreachable_broker_fails_fast() -> None:
    """C2/C10: the request path never waits long on Redis (no retries, 1 s timeouts)."""
    publisher = make_publisher(Settings(broker_url="redis://127.0.0.1:1/0"))
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        publisher(tasknames.MODERATE, 1)
    assert time.monotonic() - started < 1.5


def test_socket_broker_urls_are_understood() -> None:
    client = redis_client_for("redis+socket:///tmp/x/redis.sock", 1.0)
    assert client.connection_pool.connection_kwargs["path"] == "/tmp/x/redis.sock"
