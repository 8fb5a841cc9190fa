"""Public comment endpoints: submit a comment, and the status of one comment.

Cross-origin rules are api/cors.py's. A submission may carry a signed form token and the
honeypot field (the embed widget and the no-JS form send them): both are checked here and
their outcome is stored with the comment for the `form_signals` check, never refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, g, jsonify, render_template, request, url_for
from sqlalchemy.orm import Session

from api.context import form_tokens, settings, vault
from api.cors import add_cors_headers, require_allowed_origin, service_origin
from api.db import get_session
from api.errors import ApiError
from api.payloads import parse_json_object
from api.schemas import SubmissionSchema, dump_comment, to_new_comment
from core import comments, formtoken, sites
from core.comments import SubmissionMeta
from core.errors import OriginNotAllowed
from models import Comment, CommentStatus

bp = Blueprint("comments", __name__, url_prefix="/api/v1/sites/<site>")

SUBMISSION_SCHEMA = SubmissionSchema()  # stateless; built once (building costs as much as a load)
AWAITING_MARKER = "awaiting-moderation"


def site_settings(session: Session | Callable[[], Session], site_key: str) -> sites.SiteRef:
    """The site's settings through the per-process cache (SiteNotFound if unknown);
    `session` may be a function that opens one, called only on a cache miss."""
    cache: sites.SiteCache = current_app.extensions["replyguard.sites"]
    return cache.get(session, site_key)


def _wants_html() -> bool:
    return (
        request.mimetype == "application/x-www-form-urlencoded"
        and request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    )


def _read_payload() -> dict[str, Any]:
    if request.mimetype == "application/json":
        return parse_json_object()
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form.to_dict(flat=True)
    raise ApiError(
        415,
        "unsupported_media_type",
        "Send application/json or application/x-www-form-urlencoded.",
    )


def _safe_redirect(site: sites.SiteLike, *candidates: str | None) -> str | None:
    """The first candidate URL on an origin allowed for the site (no open redirects)."""
    for url in candidates:
        origin = sites.origin_of(url)
        if url and origin and sites.origin_allowed(site, origin, service_origin=service_origin()):
            return url
    return None


def _with_marker(url: str, comment_id: int) -> str:
    parts = urlsplit(url)
    query = "&".join(
        filter(
            None, [parts.query, urlencode({"rg_status": AWAITING_MARKER, "rg_comment": comment_id})]
        )
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, f"comment-{comment_id}"))


def _form_signals(site: sites.SiteLike, data: dict[str, Any]) -> dict[str, Any] | None:
    """Check the form token (if any) against this site and thread; note the honeypot."""
    token = data.pop("form_token", None)
    honeypot = data.pop("honeypot", None)
    check = (
        form_tokens().check(token, site.key, data["thread"], now=time.time())
        if token is not None
        else None
    )
    return formtoken.form_signals(check, honeypot_filled=bool(honeypot))


def status_body(site_key: str, comment: Comment) -> dict[str, Any]:
    """The public status of one comment; its text only once approved."""
    body: dict[str, Any] = {
        "id": comment.id,
        "status": comment.status.value,
        "thread": comment.thread.key,
        "submitted_at": comment.submitted_at.isoformat(),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
        "status_url": url_for(
            "comments.comment_status", site=site_key, comment_id=comment.id, _external=True
        ),
    }
    if comment.status is CommentStatus.APPROVED:
        body["comment"] = dump_comment(comments.public_comment(comment))
    return body


@bp.post("/comments", provide_automatic_options=False)
def submit_comment(site: str) -> Response:
    """Accept a comment for moderation: 202 with a status URL (303 for a browser form)."""
    g.wants_html = _wants_html()
    session = get_session()
    site_row = g.site = site_settings(session, site)
    # The error page's "Back" link, only to a page of this site (never a foreign URL).
    g.back_url = _safe_redirect(site_row, request.headers.get("Referer"))
    require_allowed_origin(site_row)
    data = SUBMISSION_SCHEMA.load(_read_payload())
    redirect_to = data.pop("redirect_to", None)
    data["form_signals"] = _form_signals(site_row, data)
    g.back_url = _safe_redirect(site_row, redirect_to, request.headers.get("Referer"))
    meta = SubmissionMeta(
        ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
        referrer=request.headers.get("Referer"),
    )
    comment = comments.submit(
        session, site_row, to_new_comment(data), meta=meta, vault=vault(), settings=settings()
    )
    session.commit()  # the moderation task is published after this line
    body = status_body(site, comment)
    if g.wants_html:
        target = _safe_redirect(
            site_row, redirect_to, request.headers.get("Referer"), comment.thread.url
        )
        if target is not None:
            response = Response(status=303)
            response.headers["Location"] = _with_marker(target, comment.id)
            return response
        return Response(render_template("awaiting.html", comment=body), status=202)
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = body["status_url"]
    return response


@bp.get("/comments/<int:comment_id>", provide_automatic_options=False)
def comment_status(site: str, comment_id: int) -> Response:
    """The public status of one comment (its text only once approved)."""
    session = get_session(read_only=True)
    g.site = site_settings(session, site)
    comment = comments.get_comment(session, g.site, comment_id)
    return jsonify(status_body(site, comment))


@bp.route("/comments", methods=["OPTIONS"])
@bp.route("/comments/<int:comment_id>", methods=["OPTIONS"])
@bp.route("/threads/<path:thread>/comments", methods=["OPTIONS"])
def preflight(site: str, **_ignored: Any) -> Response:
    """CORS preflight: only an allowed origin gets the CORS headers (added in after_request)."""
    session = get_session(read_only=True)
    site_row = g.site = site_settings(session, site)
    origin = request.headers.get("Origin")
    if origin is None or not sites.origin_allowed(
        site_row, origin, service_origin=service_origin()
    ):
        raise OriginNotAllowed("This site does not accept requests from that origin.")
    response = Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type, Accept"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


bp.after_request(add_cors_headers)
