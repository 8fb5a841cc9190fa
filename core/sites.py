"""Sites: lookup, origin policy and the seeded demo site."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import SiteNotFound
from models import Site

DEMO_SITE_KEY = "demo"
DEFAULT_POLICY: dict[str, Any] = {
    "max_links": 2,  # WordPress: hold a comment with this many links or more
    "disallowed_words": [],  # matched -> spam
    "moderation_words": [],  # matched -> held
    "form_min_seconds": 3.0,  # posted sooner after the form loaded -> held
    "blocked_domains": [],  # links to these (and their subdomains) -> spam
    "allowed_domains": [],  # links the link checks never flag (e.g. the site's own)
    # Classifier thresholds (core.checks.classifiers): hold, then spam at the higher one;
    # toxicity only holds unless the site opts in to rejecting with toxicity_reject_at.
    "spam_hold_at": 0.9,
    "spam_at": 0.995,
    "toxicity_hold_at": 0.7,
    "toxicity_reject_at": None,
    "shadow_checks": [],  # run and recorded, never acted on
    # Flood, duplicate and trust limits default in core.checks.history.POLICY_DEFAULTS.
}


class SiteLike(Protocol):
    """What intake needs of a site: a Site row or a cached SiteRef."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def allowed_origins(self) -> Sequence[str]: ...
    @property
    def policy(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class SiteRef:
    """A detached, read-only copy of a site's settings."""

    id: int
    key: str
    allowed_origins: tuple[str, ...]
    policy: Mapping[str, Any]


class SiteCache:
    """Per-process cache of site settings for the request path, so a submission does not
    query the sites table every time. Entries live `ttl` seconds: a change to a site's
    origins or policy reaches every API process within that time."""

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        # Replacing a dict entry is atomic, so threads sharing the cache need no lock.
        self._entries: dict[str, tuple[float, SiteRef]] = {}

    def get(self, session: Session | Callable[[], Session], site_key: str) -> SiteRef:
        """The site's settings, from the cache or the database (SiteNotFound if unknown).
        `session` may be a function returning one, called only on a miss, so that a read
        answered from caches opens no database connection at all."""
        now = time.monotonic()
        entry = self._entries.get(site_key)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        site = get_site(session if isinstance(session, Session) else session(), site_key)
        ref = SiteRef(site.id, site.key, tuple(site.allowed_origins or ()), dict(site.policy or {}))
        self._entries[site_key] = (now, ref)
        return ref

    def forget(self, site_key: str) -> None:
        """Drop one entry (after this process changed the site's settings)."""
        self._entries.pop(site_key, None)


def get_site(session: Session, site_key: str) -> Site:
    """The site with this public key, or SiteNotFound."""
    site = session.scalar(select(Site).where(Site.key == site_key))
    if site is None:
        raise SiteNotFound(f"no site {site_key!r}")
    return site


def site_policy(site: SiteLike) -> dict[str, Any]:
    """The site's policy over the defaults."""
    return {**DEFAULT_POLICY, **(site.policy or {})}


def origin_of(url: str | None) -> str | None:
    """`scheme://host[:port]` of a URL, lower-cased, or None when it has none."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(site: SiteLike, origin: str, *, service_origin: str | None = None) -> bool:
    """Exact, whole-origin match against the site's list (no wildcards, no suffix match).

    The service's own origin is always allowed: pages we serve ourselves (the demo
    article) post to our API from there, whatever host and port we run on.
    """
    wanted = origin.strip().lower().rstrip("/")
    if service_origin is not None and wanted == service_origin.lower().rstrip("/"):
        return True
    return wanted in {o.strip().lower().rstrip("/") for o in site.allowed_origins or []}


def ensure_site(
    session: Session, key: str, *, name: str, allowed_origins: list[str] | None = None
) -> Site:
    """Create the site if missing (idempotent); existing sites are left as they are."""
    site = session.scalar(select(Site).where(Site.key == key))
    if site is None:
        site = Site(key=key, name=name, allowed_origins=allowed_origins or [], policy={})
        session.add(site)
        session.flush()
    return site


def seed_demo(session: Session, extra_origins: Sequence[str] = ()) -> Site:
    """The `demo` site that `make run` serves at /demo; `extra_origins` (the
    `demo_origins` setting, e.g. a static page on another port embedding the widget) are
    added to its allowed origins if missing."""
    site = ensure_site(
        session,
        DEMO_SITE_KEY,
        name="Demo Gazette",
        allowed_origins=["http://127.0.0.1:8000", "http://localhost:8000"],
    )
    wanted = [o.strip().rstrip("/") for o in extra_origins if o.strip()]
    bad = [o for o in wanted if origin_of(o) != o.lower()]
    if bad:
        raise ValueError(f"not a bare origin (scheme://host[:port]): {', '.join(bad)}")
    missing = [o for o in wanted if o not in (site.allowed_origins or [])]
    if missing:
        site.allowed_origins = [*(site.allowed_origins or []), *missing]
        session.flush()
    return site
