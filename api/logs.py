"""Request ids: every request gets one, echoed as `X-Request-Id` and added to its log lines
and error bodies. Log formatting itself lives in core.logformat."""

from __future__ import annotations

import uuid

from flask import Flask, Response, g, has_request_context

from core.config import Settings
from core.logformat import configure_logging


def _request_context() -> dict[str, object]:
    if has_request_context() and "request_id" in g:
        return {"request_id": g.request_id}
    return {}


def init_app(app: Flask, settings: Settings) -> None:
    """Assign a request id to each request and configure logging."""
    configure_logging(settings.log_level, _request_context)

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = uuid.uuid4().hex

    @app.after_request
    def add_standard_headers(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
