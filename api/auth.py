"""Who is calling: an API token (`Authorization: Bearer …`) or a moderator's session cookie,
and the CSRF rule for cookie-authenticated writes.

The session cookie is `HttpOnly`, `SameSite=Lax`, `Secure` whenever the request came over
HTTPS (or in production) and holds a random id whose hash is the database row. A write
authenticated by that cookie must carry the CSRF token (form field `csrf_token` or header
`X-CSRF-Token`): an HMAC of the session id under the secret key, so it needs no storage
and changes with every login. Bearer-token calls carry no cookie, hence need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Response, g, request
from sqlalchemy.orm import Session

from api.context import settings, vault
from api.db import write_apart
from core import accounts
from core.access import Principal, require
from core.errors import NotAuthenticated, PermissionDenied, SiteNotFound
from core.sites import get_site
from models import Role, Site

SESSION_COOKIE = "rg_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token_for(session_token: str) -> str:
    key = settings().secret_key.encode()
    return hmac.new(key, b"csrf|" + session_token.encode(), hashlib.sha256).hexdigest()


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(session: Session) -> Principal:
    """The caller, from a bearer token or the session cookie (NotAuthenticated if neither
    is valid). Cookie-authenticated writes must carry a valid CSRF token."""
    cached: Principal | None = g.get("principal")
    if cached is not None:
        return cached
    token = _bearer()
    if token is not None:
        principal = accounts.resolve_token(session, token)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise NotAuthenticated("Log in or send an API token.")
        principal = accounts.resolve_session(session, cookie, settings())
        if request.method in UNSAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
            if not hmac.compare_digest(sent, csrf_token_for(cookie)):
                raise PermissionDenied("Missing or wrong CSRF token; reload the page.")
        g.csrf_token = csrf_token_for(cookie)
    if principal.activity_due:
        write_apart(session, lambda s: accounts.record_activity(s, principal))
    g.principal = principal
    return principal


def site_for(session: Session, site_key: str, needed: Role) -> tuple[Site, Principal, Role]:
    """The site, the caller and their role, if the caller has at least `needed` there.
    An unknown site and a site the caller has no role on are both SiteNotFound (404)."""
    principal = authenticate(session)
    try:
        site = get_site(session, site_key)
    except SiteNotFound:
        # The same answer as for a site the caller has no role on (core.access.require):
        # site keys cannot be probed through the moderation routes.
        raise SiteNotFound("no such site") from None
    role = require(principal, site.id, needed)
    return site, principal, role


def client_ip_index() -> bytes | None:
    """The blind index of the client address, for login throttling."""
    return vault().ip_index(request.remote_addr) if request.remote_addr else None


def set_session_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings().session_absolute_hours * 3600,
        httponly=True,
        secure=request.is_secure or settings().is_production,
        samesite="Lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
