"""What every page of the moderators' web UI (`/moderation/...`) shares: who is asking and
on which site, security headers, HTML error pages, safe redirects and the comment text
highlighter. The views in api/views/moderation_ui*.py stay thin on top of this.

Contract:
- `open_page(site, role)` / `open_action(site, role)` return the request's session, site,
  principal and role, or raise the domain error the blueprint turns into a page: not
  logged in → 303 to the login page (with a local `next`), no role on the site → 404, role
  too low or a missing CSRF token on a POST → 403. Reads use a read-only session; the
  session's idle timer is still refreshed (in a short write of its own).
- Every `/moderation` response carries the Content-Security-Policy below (no inline script
  or style anywhere), `X-Frame-Options: DENY`, `Referrer-Policy: same-origin` and
  `Cache-Control: no-store`.
- Nothing a commenter wrote is ever marked safe except by `highlight()`, which escapes every
  segment itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import (
    Blueprint,
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup, escape
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from api.auth import SESSION_COOKIE, authenticate, clear_session_cookie, site_for
from api.db import get_session
from api.errors import DOMAIN_STATUS
from core import errors as domain
from core.access import Principal
from models import Role, Site
from models.base import utcnow

log = logging.getLogger(__name__)

PREFIX = "/moderation"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The queue's state a moderator returns to after a decision: QueueArgsSchema's keys but
# `email`, which the UI never puts in a URL (URLs end up in access logs and the browser's
# history); an author is looked up by email with a POST instead.
QUEUE_STATE_KEYS = ("status", "order", "thread", "check", "author", "cursor")
NOT_FOUND = "There is nothing here, or you have no access to it."
STATUS_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Already decided",
    413: "Too large",
    422: "Please check the form",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


@dataclass(frozen=True)
class Page:
    """The request's session, the site, the caller and the caller's role on the site."""

    session: Session
    site: Site
    principal: Principal
    role: Role

    @property
    def can_decide(self) -> bool:
        return self.role.rank >= Role.MODERATOR.rank

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


# -- who is asking ---------------------------------------------------------------------------


def _reader() -> tuple[Session, Principal]:
    """A read-only session and the authenticated caller (api.auth refreshes the idle timer
    in a short transaction of its own)."""
    session = get_session(read_only=True)
    return session, authenticate(session)


def current_principal(*, read_only: bool) -> tuple[Session, Principal]:
    """The logged-in caller, for pages that belong to no site (the site list, logout)."""
    if read_only:
        return _reader()
    session = get_session()
    return session, authenticate(session)


def open_page(site_key: str, needed: Role = Role.VIEWER) -> Page:
    """For a GET: the caller must have at least `needed` on the site."""
    session, _principal = _reader()
    site, principal, role = site_for(session, site_key, needed)  # the caller is cached
    return Page(session, site, principal, role)


def open_action(site_key: str, needed: Role = Role.MODERATOR) -> Page:
    """For a POST: as open_page, with a writable session; the CSRF token was checked."""
    session = get_session()
    site, principal, role = site_for(session, site_key, needed)
    return Page(session, site, principal, role)


def sites_of(session: Session, principal: Principal) -> list[Site]:
    """The sites the caller has a role on, by name."""
    if not principal.roles:
        return []
    return list(
        session.scalars(select(Site).where(Site.id.in_(list(principal.roles))).order_by(Site.name))
    )


# -- where to go next --------------------------------------------------------------------------


def local_path(raw: str | None) -> str | None:
    """`raw` if it is a path of this UI (`/moderation...`), else None: a `next` parameter
    can never send a moderator to another host (`//evil`, `/\\evil`, `https:`)."""
    if not raw or len(raw) > 2000 or any(ord(ch) < 32 for ch in raw) or "\\" in raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or raw.startswith("//"):
        return None
    if parts.path != PREFIX and not parts.path.startswith(PREFIX + "/"):
        return None
    return raw


def queue_state(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The queue filters among `pairs` (non-empty values of QUEUE_STATE_KEYS only)."""
    return {k: v for k, v in pairs if k in QUEUE_STATE_KEYS and v.strip()}


def queue_state_from(raw: str | None) -> dict[str, str]:
    """The queue filters from a form's `return_to` (a query string; nothing else is kept,
    and the URL is rebuilt with url_for, so it cannot point anywhere else)."""
    return queue_state(parse_qsl(raw or "", keep_blank_values=False)[:20])


def see_other(location: str) -> Response:
    """A 303 redirect (after a POST the browser GETs the target)."""
    response: Response = make_response(redirect(location, code=303))
    return response


def login_redirect() -> Response:
    """303 to the login page; a GET comes back to where it was after logging in."""
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    if target is None:
        referrer = urlsplit(request.referrer or "")
        if referrer.netloc == request.host:
            target = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    response = see_other(url_for("moderation_ui.login", next=local_path(target)))
    if request.cookies.get(SESSION_COOKIE):
        clear_session_cookie(response)
    return response


# -- rendering ---------------------------------------------------------------------------------


def when(value: dt.datetime | None) -> str:
    """`2025-03-01 14:05 UTC` (empty for None)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def age(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago, roughly: `3 min`, `5 h`, `2 d`."""
    if value is None:
        return ""
    seconds = max(((now or utcnow()) - value).total_seconds(), 0)
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def highlight(body: str, spans: Sequence[Sequence[int]]) -> Markup:
    """The body as HTML with each [start, end) span (character offsets) in `<mark>`.

    Overlapping or touching spans are merged and clamped to the text; every segment, marked
    or not, is escaped on its own, so the result is safe and can be returned as Markup.
    Line breaks are kept by the stylesheet (`white-space: pre-wrap`), not by markup."""
    ranges = sorted(
        (max(0, int(s[0])), min(len(body), int(s[1])))
        for s in spans
        if len(s) == 2 and int(s[0]) < int(s[1])
    )
    merged: list[list[int]] = []
    for start, end in ranges:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    position = 0
    for start, end in merged:
        parts.append(str(escape(body[position:start])))
        parts.append(f"<mark>{escape(body[start:end])}</mark>")
        position = end
    parts.append(str(escape(body[position:])))
    return Markup("".join(parts))  # noqa: S704  (every segment escaped above)


def error_page(
    status: int,
    message: str,
    *,
    fields: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The UI's own error page (never the API's JSON, never a traceback)."""
    response = make_response(
        render_template(
            "moderation/error.html",
            status=status,
            title=STATUS_TITLES.get(status, "Error"),
            message=message,
            fields=fields or {},
        ),
        status,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# -- hooks -------------------------------------------------------------------------------------


def security_headers(response: Response) -> Response:
    """The headers every /moderation response carries (registered once, app-wide, so that
    404s for unknown paths under /moderation have them too)."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
    return response


def _domain_error(exc: domain.DomainError) -> Response:
    if isinstance(exc, domain.NotAuthenticated):
        return login_redirect()
    status = DOMAIN_STATUS.get(type(exc), 400)
    if status == 404:  # the same words whether the site exists or the caller has no role
        return error_page(404, NOT_FOUND)
    return error_page(status, exc.message, fields=exc.fields)


def _validation_error(exc: ValidationError) -> Response:
    fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return error_page(422, "Some values need attention.", fields=fields)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    return error_page(status, STATUS_TITLES.get(status, exc.name))


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, OperationalError | PoolTimeout):
        log.error("database unavailable", extra={"error": type(exc).__name__})
        return error_page(503, "Please try again in a moment.", headers={"Retry-After": "5"})
    log.exception("unhandled error", extra={"error": type(exc).__name__})
    return error_page(500, f"Reference: {g.get('request_id') or 'none'}.")


def _template_helpers() -> dict[str, Any]:
    return {"when": when, "age": age, "csrf_token": g.get("csrf_token", "")}


def install(bp: Blueprint) -> None:
    """Give a blueprint of the UI its error pages and template helpers."""
    bp.register_error_handler(domain.DomainError, _domain_error)
    bp.register_error_handler(ValidationError, _validation_error)
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(Exception, _unexpected)
    bp.context_processor(_template_helpers)


def render_page(
    page: Page | None, template: str, *, http_status: int = 200, **context: Any
) -> Response:
    """Render a template of the UI with the site navigation of `page` (None: no site)."""
    sites = sites_of(page.session, page.principal) if page is not None else []
    return make_response(
        render_template(
            template, page=page, site=page.site if page else None, sites=sites, **context
        ),
        http_status,
    )
