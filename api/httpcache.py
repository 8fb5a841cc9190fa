"""HTTP caching of public reads: core.readcache entries, weak ETags, `304`s and gzip.

`cached_response(site, thread, variant, build, mimetype)` answers one read of a thread:

1. A request with `If-None-Match` first asks for the thread's current version alone; if
   the client's ETag is the current one, it gets `304` without a body.
2. Otherwise the current version and the entry built for it come back in one Redis round
   trip; on a miss `build()` renders the body from the database (the version was taken
   first, see core.readcache), which is gzipped once and stored.
3. The body goes out gzipped to clients that accept it (every browser), else as is.

Without Redis every read is built from the database and its ETag is a hash of the body,
so revalidations still get `304`. Every answer says `Cache-Control` (`public, no-cache`
by default: caches may keep it but must revalidate, so an approval is visible at once)
and `Vary: Accept-Encoding` (`Vary: Origin` comes from the CORS hook).
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable

from flask import Flask, Response, request

from api.context import read_cache, settings
from core.config import Settings
from core.readcache import ReadCache, install_invalidator
from core.sites import SiteLike

GZIP_LEVEL = 6
MIN_GZIP_BYTES = 1024


def init_app(app: Flask, settings: Settings) -> None:
    """Create the read cache and invalidate it after commits of the app's sessions."""
    cache = ReadCache.from_settings(settings)
    app.extensions["replyguard.read_cache"] = cache
    install_invalidator(app.extensions["sessionmaker"], cache)


def cache_control() -> str:
    max_age = settings().read_max_age_seconds
    return f"public, max-age={max_age}" if max_age > 0 else "public, no-cache"


def _accepts_gzip() -> bool:
    return request.accept_encodings.quality("gzip") > 0


def _tag(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def not_modified(etag: str) -> bool:
    """The request's `If-None-Match` names this (weak) ETag."""
    return request.if_none_match.contains_weak(etag)


def validated(response: Response, etag: str) -> Response:
    """Headers every cacheable answer carries, 200 and 304 alike."""
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = cache_control()
    response.vary.add("Accept-Encoding")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def body_response(raw: bytes | None, gz: bytes | None, *, mimetype: str, etag: str) -> Response:
    """The body in the encoding the client accepts (one of `raw` and `gz` may be None)."""
    if gz is None and raw is not None and len(raw) < MIN_GZIP_BYTES:
        response = Response(raw)  # not worth the CPU: headers alone are about this big
    elif _accepts_gzip():
        response = Response(
            gz if gz is not None else gzip.compress(raw or b"", GZIP_LEVEL, mtime=0)
        )
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(raw if raw is not None else gzip.decompress(gz or b""))
    response.content_type = mimetype
    return validated(response, etag)


def cached_response(
    site: SiteLike,
    thread_key: str,
    variant: str,
    build: Callable[[], bytes],
    *,
    mimetype: str,
) -> Response:
    """A public read of one thread through the cache (see the module docstring)."""
    cache = read_cache()
    if request.if_none_match:
        version = cache.version(site.id, thread_key)
        if version is not None and not_modified(etag := _tag(version, variant)):
            return validated(Response(status=304), etag)
    found = cache.lookup(site.id, thread_key, variant)
    if found is None:  # no cache: build every time; the ETag is the body's hash
        raw = build()
        etag = _tag("body", hashlib.sha256(raw).hexdigest())
        if not_modified(etag):
            return validated(Response(status=304), etag)
        return body_response(raw, None, mimetype=mimetype, etag=etag)
    etag = _tag(found.version, variant)
    if found.body is not None:
        return body_response(None, found.body, mimetype=mimetype, etag=etag)
    raw = build()
    gz = gzip.compress(raw, GZIP_LEVEL, mtime=0)
    cache.store(site.id, thread_key, variant, found.version, gz)
    return body_response(raw, gz, mimetype=mimetype, etag=etag)
