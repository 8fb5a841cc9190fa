"""Security headers for the pages this service renders itself (the demo article, the pages a
browser's form post lands on).

Every HTML answer that did not set its own Content-Security-Policy gets `PAGE_CSP`:
scripts, styles, fetches and form posts only to this origin, nothing else loaded, no
framing. Our templates have no inline script or style, so nothing needs 'unsafe-inline'.
Every answer gets `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

from flask import Flask, Response

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def add_security_headers(response: Response) -> Response:
    if response.mimetype == "text/html" and "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def init_app(app: Flask) -> None:
    """Runs after every blueprint's own hooks, so a page with its own policy keeps it."""
    app.after_request(add_security_headers)
