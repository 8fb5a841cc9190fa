"""The public read cache: rendered thread listings, HTML fragments, feeds and comment counts
in Redis, each stored with the thread version it was built from.

How it stays correct, with any number of API processes and workers:

- Every thread has a *version*, a random token in Redis (`<prefix>:tv:<site id>:<thread>`).
  A cached entry is stored together with the version it was built for, and is used only
  while that version is still the thread's current one.
- Everything that changes what the public sees of a thread calls `mark_changed` in its
  transaction: `core.moderation.decide` when a comment enters or leaves `approved`, and
  `core.comments.get_or_create_thread` when it fills in a thread's URL or title. The
  invalidator that `install_invalidator` puts on a session factory replaces the versions
  of the marked threads *after the commit* (a rollback forgets them), so a reader that
  sees the new version reads a database that already has the change.
- A reader takes the version *before* reading the database, so a body built from a
  snapshot older than a change can only be stored under a version that is already dead.
- Lost invalidations (Redis unreachable at that commit, a process killed between commit
  and invalidation) are bounded: versions and entries expire after `ttl` seconds (the
  `read_cache_seconds` setting), after which everything is rebuilt.
- When Redis does not answer, reads are built from the database (`lookup` returns None).
  After a failure this process leaves Redis alone for a few seconds, so a hung Redis does
  not add its timeout to every read; that pause only saves time, correctness needs nothing
  kept in process memory.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from core.config import Settings
from core.redisclient import redis_client_for

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 5.0
_CHANGED_KEY = "replyguard_read_cache_changed"


@dataclass(frozen=True)
class Lookup:
    """The thread's current version and the cached entry built for it (None: a miss)."""

    version: str
    body: bytes | None


def _mget(client: redis.Redis, keys: Sequence[str]) -> list[bytes | None]:
    # redis-py types its replies for both the sync and the asyncio client.
    return cast("list[bytes | None]", client.mget(keys))


def _digest(text: str, size: int = 24) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


class ReadCache:
    """Version-checked entries for public reads. `client` None disables the cache."""

    def __init__(self, client: redis.Redis | None, *, ttl: int, prefix: str = "rg:read") -> None:
        self._client = client
        self.ttl = ttl
        self.prefix = prefix
        self._skip_until = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadCache:
        """The cache on `cache_url` (the broker's Redis when empty); off if `ttl` is 0."""
        if settings.read_cache_seconds <= 0:
            return cls(None, ttl=0)
        url = settings.cache_url or settings.broker_url
        return cls(
            redis_client_for(url, settings.broker_timeout_seconds),
            ttl=settings.read_cache_seconds,
        )

    # -- keys ----------------------------------------------------------------------------
    def _thread(self, site_id: int, thread_key: str) -> str:
        return f"{site_id}:{_digest(thread_key)}"

    def version_key(self, site_id: int, thread_key: str) -> str:
        return f"{self.prefix}:tv:{self._thread(site_id, thread_key)}"

    def entry_key(self, site_id: int, thread_key: str, variant: str) -> str:
        return f"{self.prefix}:te:{self._thread(site_id, thread_key)}:{_digest(variant, 16)}"

    def count_key(self, site_id: int, thread_key: str) -> str:
        return f"{self.prefix}:tc:{self._thread(site_id, thread_key)}"

    # -- availability ----------------------------------------------------------------------
    def _usable(self) -> redis.Redis | None:
        if self._client is None or time.monotonic() < self._skip_until:
            return None
        return self._client

    def _failed(self, what: str, exc: Exception) -> None:
        self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
        log.warning("read cache unavailable", extra={"op": what, "error": type(exc).__name__})

    def _versions(self, client: redis.Redis, keys: Sequence[str], found: list[Any]) -> list[str]:
        """Current versions for `keys` (given what MGET found), creating missing ones."""
        missing = [key for key, value in zip(keys, found, strict=True) if value is None]
        created: dict[str, str] = {}
        if missing:
            tokens = {key: secrets.token_hex(8) for key in missing}
            pipe = client.pipeline(transaction=False)
            for key, token in tokens.items():
                pipe.set(key, token, nx=True, ex=self.ttl)
            results = pipe.execute()
            lost = [key for key, ok in zip(missing, results, strict=True) if not ok]
            created = {key: tokens[key] for key, ok in zip(missing, results, strict=True) if ok}
            if lost:  # someone else created (or replaced) them meanwhile: use theirs
                created |= {
                    key: value.decode() if value is not None else tokens[key]
                    for key, value in zip(lost, _mget(client, lost), strict=True)
                }
        return [
            value.decode() if value is not None else created[key]
            for key, value in zip(keys, found, strict=True)
        ]

    # -- thread entries ----------------------------------------------------------------------
    def version(self, site_id: int, thread_key: str) -> str | None:
        """The thread's current version, or None when the cache is unavailable."""
        client = self._usable()
        if client is None:
            return None
        key = self.version_key(site_id, thread_key)
        try:
            return self._versions(client, [key], [client.get(key)])[0]
        except redis.RedisError as exc:
            self._failed("version", exc)
            return None

    def lookup(self, site_id: int, thread_key: str, variant: str) -> Lookup | None:
        """The current version and the entry for it in one round trip (None: no cache)."""
        client = self._usable()
        if client is None:
            return None
        vkey = self.version_key(site_id, thread_key)
        ekey = self.entry_key(site_id, thread_key, variant)
        try:
            raw_version, raw_entry = _mget(client, [vkey, ekey])
            version = self._versions(client, [vkey], [raw_version])[0]
        except redis.RedisError as exc:
            self._failed("lookup", exc)
            return None
        body = None
        if raw_entry is not None:
            stored_version, _, stored_body = bytes(raw_entry).partition(b"\n")
            if stored_version.decode() == version:
                body = stored_body
        return Lookup(version, body)

    def store(self, site_id: int, thread_key: str, variant: str, version: str, body: bytes) -> None:
        """Keep `body` as the entry built for `version` (best effort)."""
        client = self._usable()
        if client is None:
            return
        try:
            client.set(
                self.entry_key(site_id, thread_key, variant),
                version.encode() + b"\n" + body,
                ex=self.ttl,
            )
        except redis.RedisError as exc:
            self._failed("store", exc)

    # -- counts ------------------------------------------------------------------------------
    def lookup_counts(
        self, site_id: int, thread_keys: Sequence[str]
    ) -> dict[str, tuple[str, int | None]] | None:
        """{thread: (current version, cached count or None)} in one round trip, or None."""
        client = self._usable()
        if client is None or not thread_keys:
            return None
        vkeys = [self.version_key(site_id, key) for key in thread_keys]
        ckeys = [self.count_key(site_id, key) for key in thread_keys]
        try:
            found = _mget(client, vkeys + ckeys)
            versions = self._versions(client, vkeys, found[: len(vkeys)])
        except redis.RedisError as exc:
            self._failed("lookup_counts", exc)
            return None
        out: dict[str, tuple[str, int | None]] = {}
        for key, version, raw in zip(thread_keys, versions, found[len(vkeys) :], strict=True):
            count = None
            if raw is not None:
                stored_version, _, number = bytes(raw).decode().partition(":")
                if stored_version == version and number.isdigit():
                    count = int(number)
            out[key] = (version, count)
        return out

    def store_counts(self, site_id: int, counts: dict[str, tuple[str, int]]) -> None:
        """Keep each thread's count with the version it was counted under (best effort)."""
        client = self._usable()
        if client is None or not counts:
            return
        try:
            pipe = client.pipeline(transaction=False)
            for key, (version, count) in counts.items():
                pipe.set(self.count_key(site_id, key), f"{version}:{count}", ex=self.ttl)
            pipe.execute()
        except redis.RedisError as exc:
            self._failed("store_counts", exc)

    # -- invalidation --------------------------------------------------------------------------
    def bump(self, threads: Iterable[tuple[int, str]]) -> None:
        """Give each thread a new version: every entry built before is dead from now on."""
        keys = [self.version_key(site_id, key) for site_id, key in threads]
        if self._client is None or not keys:
            return
        try:  # not skipped after a recent failure: an invalidation is worth one more try
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, secrets.token_hex(8), ex=self.ttl)
            pipe.execute()
        except redis.RedisError as exc:
            self._failed("bump", exc)
            log.warning(
                "read cache not invalidated; entries expire on their own",
                extra={"threads": len(keys), "ttl": self.ttl},
            )


def mark_changed(session: Session, site_id: int, thread_key: str) -> None:
    """The public view of this thread changes in this transaction: invalidate it after the
    commit (see `install_invalidator`)."""
    session.info.setdefault(_CHANGED_KEY, set()).add((site_id, thread_key))


def install_invalidator(target: sessionmaker[Session] | Session, cache: ReadCache) -> None:
    """After each commit of `target` (a factory or one session), give the threads marked
    in that transaction new versions; forget them when the whole transaction rolls back."""

    def after_commit(session: Session) -> None:
        changed = session.info.pop(_CHANGED_KEY, None)
        if changed:
            cache.bump(sorted(changed))

    def after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
        # A SAVEPOINT rolled back (one comment of a bulk decision) leaves the outer
        # transaction's marks in place: invalidating a thread too often is harmless.
        if not previous.nested:
            session.info.pop(_CHANGED_KEY, None)

    event.listen(target, "after_commit", after_commit)
    event.listen(target, "after_soft_rollback", after_soft_rollback)
