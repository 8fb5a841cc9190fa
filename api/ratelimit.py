"""Rate limits on comment submissions: independent buckets per client address, per email
(its blind index) and per site, kept in Redis (the cache's Redis unless
`rate_limit_url` says otherwise) with the `limits` library's sliding-window counters.

- Buckets are checked in that order and the first one that is full answers **429** with
  `Retry-After` and a generic body (`rate_limited`), naming no bucket. A refused request
  consumes nothing from the buckets after the one that refused it, so one noisy address
  cannot drain its site's budget.
- Keys hold only blind indexes (HMACs under the index key), never an address or an email.
- Redis unreachable: the limits **fail open to a per-process in-memory limiter** (the
  same limits, counted by this process only) and a warning is logged; Redis is tried
  again after `RETRY_REDIS_SECONDS`. A submission is never refused with a 500 because
  the limiter's storage is down.

The check runs before the view, so malformed and refused submissions count too.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

from api.context import vault
from api.db import get_session
from api.errors import error_response
from api.views.comments import site_settings
from core.config import ConfigError, Settings
from core.errors import SiteNotFound
from core.redisclient import redis_client_for

log = logging.getLogger(__name__)

SUBMIT_ENDPOINT = "comments.submit_comment"
RETRY_REDIS_SECONDS = 30.0
EXTENSION = "replyguard.rate_limits"
SITE_KEY_MAX_CHARS = 100
GENERIC_MESSAGE = "Too many comments in a short time; please wait a moment and try again."


def parse_limits(value: str, setting: str) -> tuple[RateLimitItem, ...]:
    """`"5/minute;30/hour"` as limit items; an empty value means none (ConfigError if bad)."""
    if not value.strip():
        return ()
    try:
        return tuple(parse_many(value))
    except ValueError as exc:
        raise ConfigError(f"REPLYGUARD_{setting.upper()}: {exc}") from exc


@dataclass(frozen=True)
class Refusal:
    """A full bucket: how long until the request would be accepted (seconds)."""

    retry_after: int


class SubmissionLimiter:
    """The three buckets over Redis, with the in-memory fallback."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        redis_storage: Storage | None = None,
    ) -> None:
        self.buckets: tuple[tuple[str, tuple[RateLimitItem, ...]], ...] = (
            ("ip", parse_limits(settings.rate_limit_ip, "rate_limit_ip")),
            ("email", parse_limits(settings.rate_limit_email, "rate_limit_email")),
            ("site", parse_limits(settings.rate_limit_site, "rate_limit_site")),
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())
        url = settings.rate_limit_url or settings.cache_url or settings.broker_url
        self._redis: SlidingWindowCounterRateLimiter | None = None
        if redis_storage is not None:
            self._redis = SlidingWindowCounterRateLimiter(redis_storage)
        elif not url.startswith("memory://"):
            client = redis_client_for(url, settings.broker_timeout_seconds)
            storage = RedisStorage(
                "redis://",
                connection_pool=client.connection_pool,
                key_prefix=settings.rate_limit_prefix,
            )
            self._redis = SlidingWindowCounterRateLimiter(storage)

    @property
    def using_fallback(self) -> bool:
        return self._redis is None or self._clock() < self._down_until

    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        if self._redis is None or self._clock() < self._down_until:
            return self._memory
        return self._redis

    def _storage_failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._clock() >= self._down_until
            self._down_until = self._clock() + RETRY_REDIS_SECONDS
        if first:
            log.warning(
                "rate limit storage unreachable; using per-process in-memory limits",
                extra={"error": type(exc).__name__, "retry_in_s": int(RETRY_REDIS_SECONDS)},
            )

    def _hit(self, item: RateLimitItem, bucket: str, key: str) -> Refusal | None:
        limiter = self._limiter()
        try:
            if limiter.hit(item, bucket, key):
                return None
            reset = limiter.get_window_stats(item, bucket, key).reset_time
        except Exception as exc:  # any storage failure fails open: never a 500 from here
            if limiter is self._memory:
                raise
            self._storage_failed(exc)
            return self._hit(item, bucket, key)
        return Refusal(retry_after=max(1, math.ceil(reset - time.time())))

    def check(self, keys: dict[str, str | None]) -> Refusal | None:
        """Count one submission in every bucket that has a key, in order; the first full
        bucket's refusal (the buckets after it are not charged)."""
        for bucket, items in self.buckets:
            key = keys.get(bucket)
            if key is None:
                continue
            for item in items:
                refusal = self._hit(item, bucket, key)
                if refusal is not None:
                    return refusal
        return None


def _submitted_email() -> str | None:
    """The email field of a submission, read without consuming the body for the view."""
    if request.mimetype == "application/x-www-form-urlencoded":
        value: Any = request.form.get("email")
    elif request.mimetype == "application/json":
        try:
            payload = json.loads(request.get_data(cache=True) or b"null")
        except (ValueError, RecursionError):
            return None
        value = payload.get("email") if isinstance(payload, dict) else None
    else:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 254:
        return None
    return value


def bucket_keys() -> dict[str, str | None]:
    """The bucket keys of this request: blind indexes of the client address and of the
    email, and the site key from the URL."""
    keys: dict[str, str | None] = {"ip": None, "email": None, "site": None}
    if request.remote_addr:
        keys["ip"] = vault().ip_index(request.remote_addr).hex()
    email = _submitted_email()
    if email is not None:
        keys["email"] = vault().email_index(email).hex()
    site = (request.view_args or {}).get("site")
    if isinstance(site, str):
        keys["site"] = site[:SITE_KEY_MAX_CHARS]
    return keys


def _wants_html() -> bool:
    return (
        request.mimetype == "application/x-www-form-urlencoded"
        and request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    )


def _refused(refusal: Refusal) -> Response:
    g.wants_html = _wants_html()
    # The site, for the CORS headers that let the widget read the 429 (cached lookups).
    site = (request.view_args or {}).get("site")
    if isinstance(site, str):
        with suppress(SiteNotFound):
            g.site = site_settings(lambda: get_session(read_only=True), site)
    return error_response(
        429, "rate_limited", GENERIC_MESSAGE, headers={"Retry-After": str(refusal.retry_after)}
    )


def limit_submissions() -> Response | None:
    """A `before_request` hook: 429 when a bucket of this submission is full."""
    if request.endpoint != SUBMIT_ENDPOINT or request.method != "POST":
        return None
    limiter: SubmissionLimiter = current_app.extensions[EXTENSION]
    refusal = limiter.check(bucket_keys())
    return _refused(refusal) if refusal is not None else None


def init_app(app: Flask, settings: Settings) -> None:
    """Install the limiter when `settings.rate_limits_on`; bad limits are refused either way."""
    for name in ("rate_limit_ip", "rate_limit_email", "rate_limit_site"):
        parse_limits(getattr(settings, name), name)
    if settings.rate_limits_on:
        app.extensions[EXTENSION] = SubmissionLimiter(settings)
        app.before_request(limit_submissions)
