"""Sites: lookup, origin policy and the seeded demo site."""

from __future__ import annotations

from typing import Any
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
}


def get_site(session: Session, site_key: str) -> Site:
    """The site with this public key, or SiteNotFound."""
    site = session.scalar(select(Site).where(Site.key == site_key))
    if site is None:
        raise SiteNotFound(f"no site {site_key!r}")
    return site


def site_policy(site: Site) -> dict[str, Any]:
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


def origin_allowed(site: Site, origin: str, *, service_origin: str | None = None) -> bool:
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


def seed_demo(session: Session) -> Site:
    """The `demo` site that `make run` serves at /demo."""
    return ensure_site(
        session,
        DEMO_SITE_KEY,
        name="Demo Gazette",
        allowed_origins=["http://127.0.0.1:8000", "http://localhost:8000"],
    )
