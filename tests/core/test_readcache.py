"""The read cache against a real Redis: entries are used only under the version they were
built for, and only committed changes to a public thread replace its version."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy.orm import Session

from core import moderation, readcache
from core.config import Settings
from core.privacy import PrivacyVault
from core.readcache import ReadCache, install_invalidator
from core.redisclient import redis_client_for
from models import CommentStatus, Site
from tests.support.databases import REDIS_URL
from tests.support.moderation import submitted


@pytest.fixture
def cache() -> Iterator[ReadCache]:
    client = redis_client_for(REDIS_URL, 1.0)
    prefix = f"rgtest:{uuid.uuid4().hex[:12]}"
    yield ReadCache(client, ttl=60, prefix=prefix)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_an_entry_is_served_only_under_its_version(cache: ReadCache) -> None:
    first = cache.lookup(7, "council-vote", "json|page1")
    assert first is not None and first.body is None
    assert cache.version(7, "council-vote") == first.version  # stable until a change
    cache.store(7, "council-vote", "json|page1", first.version, b"body v1")
    hit = cache.lookup(7, "council-vote", "json|page1")
    assert hit is not None and hit.body == b"body v1"
    assert cache.lookup(7, "council-vote", "json|page2").body is None  # type: ignore[union-attr]
    assert cache.lookup(8, "council-vote", "json|page1").body is None  # type: ignore[union-attr]

    cache.bump([(7, "council-vote")])
    after = cache.lookup(7, "council-vote", "json|page1")
    assert after is not None and after.version != first.version and after.body is None
    # A reader that took the old version before the change may still store late: unused.
    cache.store(7, "council-vote", "json|page1", first.version, b"stale")
    assert cache.lookup(7, "council-vote", "json|page1").body is None  # type: ignore[union-attr]


def test_entries_and_versions_expire(cache: ReadCache) -> None:
    """A lost invalidation is bounded by the TTL on every key."""
    found = cache.lookup(7, "t", "v")
    assert found is not None
    cache.store(7, "t", "v", found.version, b"x")
    client = redis_client_for(REDIS_URL, 1.0)
    for key in (cache.version_key(7, "t"), cache.entry_key(7, "t", "v")):
        assert 0 < int(client.ttl(key)) <= 60  # type: ignore[arg-type]
    client.close()


def test_counts_follow_their_thread_versions(cache: ReadCache) -> None:
    first = cache.lookup_counts(3, ["a", "b"])
    assert first is not None and {k: n for k, (_v, n) in first.items()} == {"a": None, "b": None}
    cache.store_counts(3, {"a": (first["a"][0], 4), "b": (first["b"][0], 0)})
    again = cache.lookup_counts(3, ["a", "b"])
    assert again is not None and again["a"][1] == 4 and again["b"][1] == 0
    cache.bump([(3, "a")])
    after = cache.lookup_counts(3, ["a", "b"])
    assert after is not None and after["a"][1] is None and after["b"][1] == 0


def test_an_unreachable_redis_means_no_cache_not_an_error() -> None:
    dead = ReadCache(redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), ttl=60)
    assert dead.lookup(1, "t", "v") is None
    assert dead.version(1, "t") is None
    assert dead.lookup_counts(1, ["t"]) is None
    dead.store(1, "t", "v", "x", b"y")
    dead.bump([(1, "t")])  # logged, never raised: the commit already happened
    assert ReadCache(None, ttl=0).lookup(1, "t", "v") is None
    off = ReadCache.from_settings(Settings(read_cache_seconds=0))
    assert off.lookup(1, "t", "v") is None


def test_only_committed_changes_invalidate(session: Session, cache: ReadCache) -> None:
    install_invalidator(session, cache)
    before = cache.version(5, "t")
    readcache.mark_changed(session, 5, "t")
    session.rollback()
    assert cache.version(5, "t") == before
    readcache.mark_changed(session, 5, "t")
    with session.begin_nested() as nested:  # a bulk decision's failed item: marks stay
        nested.rollback()
    session.commit()
    assert cache.version(5, "t") != before


def test_decisions_invalidate_a_thread_only_when_the_public_view_changes(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, cache: ReadCache
) -> None:
    install_invalidator(session, cache)
    comment = submitted(session, site, vault, settings, thread="vote")
    start = cache.version(site.id, "vote")
    moderation.decide(session, comment, CommentStatus.HELD, decided_by="test", reason="r")
    session.commit()
    assert cache.version(site.id, "vote") == start  # held: nothing public changed
    moderation.decide(
        session,
        comment,
        CommentStatus.APPROVED,
        decided_by="test",
        reason="r",
        expected=CommentStatus.HELD,
    )
    session.commit()
    approved = cache.version(site.id, "vote")
    assert approved != start
    moderation.decide(
        session,
        comment,
        CommentStatus.DELETED,
        decided_by="test",
        reason="r",
        expected=CommentStatus.APPROVED,
    )
    session.commit()
    assert cache.version(site.id, "vote") != approved  # leaving `approved` counts too
