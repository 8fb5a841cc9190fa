"""Cross-origin rules shared by the public blueprints.

A request carrying an Origin (or, failing that, a Referer) must come from one of the
site's allowed origins or from this service's own origin, else 403; requests with neither
(server-to-server clients, curl) are accepted. Allowed origins get exact-origin CORS
headers with `Vary: Origin`, never `*`.
"""

from __future__ import annotations

from flask import Response, g, request

from core import sites
from core.errors import OriginNotAllowed

EXPOSED_HEADERS = "Location, Retry-After, X-Request-Id"


def service_origin() -> str:
    """This service's own origin as the client sees it."""
    return sites.origin_of(request.host_url) or ""


def request_origin() -> str | None:
    """The Origin header, or the Referer's origin when a client sends no Origin."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin
    return sites.origin_of(request.headers.get("Referer"))


def origin_allowed(site: sites.SiteLike, origin: str | None) -> bool:
    return origin is not None and sites.origin_allowed(
        site, origin, service_origin=service_origin()
    )


def require_allowed_origin(site: sites.SiteLike) -> None:
    """403 for a browser request from an origin the site does not list."""
    origin = request_origin()
    if origin is not None and not origin_allowed(site, origin):
        raise OriginNotAllowed("This site does not accept comments from that origin.")


def add_cors_headers(response: Response) -> Response:
    """An `after_request` hook: exact-origin CORS for the site in `g.site`; always
    `Vary: Origin`, since the answer depends on it."""
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    site: sites.SiteLike | None = g.get("site")
    if site is not None and origin_allowed(site, origin):
        assert origin is not None
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    return response
