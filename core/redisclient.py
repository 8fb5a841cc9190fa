"""redis-py clients for the URLs this service is configured with, with short timeouts and
no retries: the request path must never hang on Redis."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_client_for(url: str, timeout: float) -> redis.Redis:
    """A client for a `redis://`, `rediss://` or kombu `redis+socket://` URL."""
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
