"""The public read cache in tests: a namespace of its own per test.

Tests roll their data back, so ids repeat (SQLite reuses them); entries cached by one test
must never answer another, hence a fresh key prefix per test. The invalidator goes on the
test's own session, since views use that session instead of the app's factory.
"""

from __future__ import annotations

import uuid

from flask import Flask
from sqlalchemy.orm import Session

from core.readcache import ReadCache, install_invalidator
from core.redisclient import redis_client_for
from tests.support.databases import REDIS_URL

TEST_TTL_SECONDS = 120


def isolate_read_cache(app: Flask, session: Session) -> ReadCache:
    """Give the app a read cache under a unique prefix, invalidated by `session`'s commits."""
    cache = ReadCache(
        redis_client_for(REDIS_URL, 1.0),
        ttl=TEST_TTL_SECONDS,
        prefix=f"rgtest:{uuid.uuid4().hex[:12]}",
    )
    app.extensions["replyguard.read_cache"] = cache
    install_invalidator(session, cache)
    return cache
