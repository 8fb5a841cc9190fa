"""Every error becomes a structured JSON body `{"error": code, "message": ..., "fields": {...}}`
(or, for a browser's form post, a small HTML page with the same status). No tracebacks
ever reach a client; unexpected errors carry the request id that the log line also has."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, render_template
from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from core import errors as domain

log = logging.getLogger(__name__)

DOMAIN_STATUS: dict[type[domain.DomainError], int] = {
    domain.SiteNotFound: 404,
    domain.CommentNotFound: 404,
    domain.InvalidSubmission: 422,
    domain.ThreadClosed: 403,
    domain.DuplicateComment: 409,
    domain.FloodLimited: 429,
    domain.OriginNotAllowed: 403,
    domain.NotAuthenticated: 401,
    domain.InvalidCredentials: 401,
    domain.LoginThrottled: 429,
    domain.PermissionDenied: 403,
    domain.DecisionConflict: 409,
    domain.InvalidSetting: 422,
    domain.WebhookNotFound: 404,
    domain.DeliveryNotFound: 404,
    domain.WebhookUrlBlocked: 422,
    domain.WebhookDisabled: 409,
    domain.DeliveryInFlight: 409,
}

HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An adapter-level error with a code, raised by views (bad JSON, wrong content type)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """The one error shape, as JSON or (for browser form posts) as an HTML page."""
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra or {})
    if status >= 500:
        body["request_id"] = g.get("request_id")
    if g.get("wants_html"):
        response = Response(
            render_template("error.html", status=status, body=body, back=g.get("back_url")),
            status=status,
            mimetype="text/html",
        )
    else:
        response = jsonify(body)
        response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(ValidationError)
    def validation_failed(exc: ValidationError) -> Response:
        fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return error_response(
            422, "validation_failed", "Some fields need attention.", fields=fields
        )

    @app.errorhandler(domain.DomainError)
    def domain_error(exc: domain.DomainError) -> Response:
        status = DOMAIN_STATUS.get(type(exc), 400)
        headers = {}
        extra: dict[str, Any] = {}
        if isinstance(exc, domain.FloodLimited | domain.LoginThrottled):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, domain.NotAuthenticated):
            headers["WWW-Authenticate"] = 'Bearer realm="replyguard"'
        if isinstance(exc, domain.DecisionConflict):
            extra = {"current_status": exc.current, "last_decision": exc.last_decision}
        if isinstance(exc, domain.WebhookUrlBlocked):
            extra = {"reason": exc.reason}
        return error_response(
            status, exc.code, exc.message, fields=exc.fields, headers=headers, extra=extra
        )

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        return error_response(status, code, exc.description or code)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: Exception) -> Response:
        if (
            isinstance(exc, DBAPIError)
            and not exc.connection_invalidated
            and not _is_connectivity(exc)
        ):
            return unexpected(exc)
        log.error("database unavailable", extra={"error": type(exc).__name__})
        return error_response(
            503,
            "temporarily_unavailable",
            "The service is temporarily unavailable; please try again shortly.",
            headers={"Retry-After": "5"},
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"error": type(exc).__name__})
        return error_response(500, "internal_error", "Something went wrong on our side.")


def _is_connectivity(exc: DBAPIError) -> bool:
    """OperationalErrors that mean "can't reach the database" rather than a bad query."""
    text = str(exc.orig).lower()
    markers = (
        "connection",
        "could not connect",
        "server closed",
        "terminating",
        "timeout",
        "database is locked",
        "unable to open",
    )
    return any(marker in text for marker in markers)
