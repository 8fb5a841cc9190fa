"""Public reads of threads, answered from the read cache (api/httpcache.py):

- `GET .../threads/<thread>/comments`: approved comments as a JSON tree, paginated by
  top-level comment (`limit`, `after`); what the embed widget reads.
- `GET .../threads/<thread>/comments.html`: the same page as an HTML fragment, for
  server-side includes and readers without JavaScript.
- `GET .../threads/<thread>/feed.atom`: the newest approved comments as an Atom feed.
- `GET .../counts?thread=a&thread=b`: approved comments per thread, for article lists.
- `GET .../form-token?thread=<key>`: a fresh signed form token (never cached).

Everything is public and carries no email or IP. A cache hit opens no database
connection: the site comes from the per-process site cache, the body from Redis.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, g, jsonify, render_template, request, url_for
from markupsafe import Markup

from api.context import form_tokens, read_cache, settings
from api.cors import add_cors_headers, require_allowed_origin
from api.db import get_session
from api.errors import ApiError
from api.feeds import thread_feed
from api.httpcache import body_response, cached_response, not_modified, validated
from api.payloads import db_int
from api.schemas import HONEYPOT_FIELD, THREAD_KEY_MAX_CHARS, dump_comment
from api.views.comments import site_settings
from core import comments
from core.errors import InvalidSubmission
from core.rendering import comment_html
from core.sites import SiteRef

bp = Blueprint("threads", __name__, url_prefix="/api/v1/sites/<site>")

PAGE_DEFAULT, PAGE_MAX = 50, 1000
FEED_ENTRIES = 50
COUNTS_MAX = 100
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


@bp.app_template_filter("comment_html")
def comment_html_filter(body: str) -> Markup:
    """A comment's text as escaped paragraphs (core.rendering), safe to insert as is."""
    return Markup(comment_html(body))  # noqa: S704 (comment_html escapes everything)


def _site(site_key: str) -> SiteRef:
    """The site (SiteNotFound → 404), opening a database session only on a cache miss."""
    site: SiteRef = site_settings(lambda: get_session(read_only=True), site_key)
    g.site = site
    return site


def _thread_key(thread: str) -> str:
    if len(thread) > THREAD_KEY_MAX_CHARS:
        raise ApiError(400, "bad_request", f"Thread keys are at most {THREAD_KEY_MAX_CHARS} long.")
    return thread


def _page_args() -> tuple[int | None, int]:
    limit = request.args.get("limit", PAGE_DEFAULT, type=db_int) or PAGE_DEFAULT
    return request.args.get("after", None, type=db_int), max(1, min(limit, PAGE_MAX))


def _page_with_next(
    endpoint: str, site_row: SiteRef, thread: str, after: int | None, limit: int
) -> tuple[comments.ThreadPage, str | None]:
    """One page of the thread, and the URL of the next page at `endpoint` (None if last)."""
    page = comments.approved_thread(
        get_session(read_only=True), site_row, thread, after=after, limit=limit
    )
    next_url = None
    if page.next_after is not None:
        next_url = url_for(
            endpoint,
            site=site_row.key,
            thread=thread,
            after=page.next_after,
            limit=limit,
            _external=True,
        )
    return page, next_url


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@bp.get("/threads/<path:thread>/comments", provide_automatic_options=False)
def thread_comments(site: str, thread: str) -> Response:
    """Approved comments of a thread, threaded; `limit` top-level comments after `after`."""
    site_row, thread = _site(site), _thread_key(thread)
    after, limit = _page_args()

    def build() -> bytes:
        page, next_url = _page_with_next("threads.thread_comments", site_row, thread, after, limit)
        info = page.thread
        return _json(
            {
                "thread": {
                    "key": thread,
                    "url": info.url if info else None,
                    "title": info.title if info else None,
                    "closed": info.closed if info else False,
                },
                "total": page.total,
                "comments": [dump_comment(node) for node in page.roots],
                "next": next_url,
            }
        )

    variant = f"json|{request.host_url}|{after}|{limit}"
    return cached_response(site_row, thread, variant, build, mimetype=JSON_TYPE)


@bp.get("/threads/<path:thread>/comments.html", provide_automatic_options=False)
def thread_fragment(site: str, thread: str) -> Response:
    """The same page as an HTML fragment (escaped text, `rel="nofollow ugc"` links)."""
    site_row, thread = _site(site), _thread_key(thread)
    after, limit = _page_args()

    def build() -> bytes:
        page, next_url = _page_with_next("threads.thread_fragment", site_row, thread, after, limit)
        html = render_template(
            "embed/thread.html",
            comments=[dump_comment(node) for node in page.roots],
            total=page.total,
            next_url=next_url,
        )
        return html.encode()

    variant = f"html|{request.host_url}|{after}|{limit}"
    response = cached_response(site_row, thread, variant, build, mimetype=HTML_TYPE)
    # May be framed by the site's own pages only; it needs nothing from anywhere.
    ancestors = " ".join(["'self'", *site_row.allowed_origins])
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )
    return response


@bp.get("/threads/<path:thread>/feed.atom", provide_automatic_options=False)
def thread_feed_view(site: str, thread: str) -> Response:
    """The thread's newest approved comments as an Atom feed."""
    site_row, thread = _site(site), _thread_key(thread)

    def build() -> bytes:
        info, entries = comments.latest_approved(
            get_session(read_only=True), site_row, thread, limit=FEED_ENTRIES
        )
        return thread_feed(
            thread_key=thread,
            info=info,
            entries=entries,
            feed_url=request.base_url,
            comment_url=lambda comment_id: url_for(
                "comments.comment_status", site=site, comment_id=comment_id, _external=True
            ),
            site_name=site_row.key,
        )

    variant = f"atom|{request.host_url}"
    return cached_response(site_row, thread, variant, build, mimetype=ATOM_TYPE)


@bp.get("/counts", provide_automatic_options=False)
def counts(site: str) -> Response:
    """Approved comments per thread: `?thread=a&thread=b` (at most 100 threads)."""
    keys = list(dict.fromkeys(request.args.getlist("thread")))
    if not keys:
        raise InvalidSubmission("no thread", fields={"thread": ["Name at least one thread."]})
    if len(keys) > COUNTS_MAX or any(not 0 < len(k) <= THREAD_KEY_MAX_CHARS for k in keys):
        raise InvalidSubmission(
            "bad threads",
            fields={"thread": [f"At most {COUNTS_MAX} thread keys of 1–200 characters."]},
        )
    site_row = _site(site)
    cache = read_cache()
    cached = cache.lookup_counts(site_row.id, keys)
    found = {k: n for k, (_v, n) in (cached or {}).items() if n is not None}
    missing = [k for k in keys if k not in found]
    if missing:
        counted = comments.approved_counts(get_session(read_only=True), site_row, missing)
        found.update(counted)
        if cached is not None:  # stored under the versions taken before counting
            cache.store_counts(site_row.id, {k: (cached[k][0], counted[k]) for k in missing})
    raw = _json({"counts": {k: found[k] for k in keys}})
    etag = hashlib.sha256(raw).hexdigest()[:24]
    if not_modified(etag):
        return validated(Response(status=304), etag)
    return body_response(raw, None, mimetype=JSON_TYPE, etag=etag)


@bp.get("/form-token", provide_automatic_options=False)
def form_token(site: str) -> Response:
    """A signed form token for one thread, to send with the submission as `form_token`."""
    site_row = _site(site)
    require_allowed_origin(site_row)
    thread = request.args.get("thread", "")
    if not 0 < len(thread) <= THREAD_KEY_MAX_CHARS:
        raise InvalidSubmission(
            "bad thread", fields={"thread": ["Which article is this form for? (thread)"]}
        )
    response = jsonify(
        {
            "token": form_tokens().issue(site_row.key, thread),
            "field": "form_token",
            "honeypot_field": HONEYPOT_FIELD,
            "max_age": settings().form_token_max_age_seconds,
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


bp.after_request(add_cors_headers)
