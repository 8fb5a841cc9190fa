"""The moderation API (`/api/v1/sites/<site>/moderation/...`): the queue, one comment, decisions
(single and bulk), replies as the site, author marks, email reveal, audit log, stats and
settings. Every call needs a bearer token or a logged-in session with a role on the site
(viewer reads, moderator decides, admin reveals emails and changes settings)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from api.auth import site_for
from api.context import vault
from api.db import get_session
from api.moderation_schemas import (
    AuthorMarkRequestSchema,
    BulkRequestSchema,
    DecisionRequestSchema,
    PremoderationRequestSchema,
    QueueArgsSchema,
    ReplyRequestSchema,
    dump_audit,
    dump_detail,
    dump_mark,
    dump_moderated_comment,
    dump_queue_item,
    dump_stats,
)
from api.payloads import db_int, read_json
from core import audit, authors, queue, review, site_settings, stats
from core.queue import QueueFilter
from core.review import ReviewAction
from core.sites import SiteCache
from models import CommentStatus, Role

bp = Blueprint("moderation_api", __name__, url_prefix="/api/v1/sites/<site>/moderation")


def queue_filter(args: dict[str, Any]) -> QueueFilter:
    """A QueueFilter from loaded QueueArgsSchema data (the email becomes its blind index)."""
    return QueueFilter(
        status=CommentStatus(args["status"]),
        oldest_first=args["order"] == "oldest",
        thread=args["thread"],
        check=args["check"],
        since=args["since"],
        until=args["until"],
        author=args["author"],
        email_index=vault().email_index(args["email"]) if args["email"] else None,
    )


def _moderated(comment: Any) -> dict[str, Any]:
    return dump_moderated_comment(
        comment,
        masked_email=queue.masked_email(comment, vault()),
        author_key=authors.author_key(comment.email_index),
    )


@bp.get("/queue")
def list_queue(site: str) -> Response:
    """One page of the queue with counts per status; `next` is the following page's URL."""
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.VIEWER)
    args = QueueArgsSchema().load_args(request.args)
    page = queue.list_queue(
        session,
        site_row.id,
        queue_filter(args),
        vault=vault(),
        cursor=args["cursor"],
        limit=args["limit"],
    )
    next_url = None
    if page.next_cursor is not None:
        query: dict[str, Any] = {k: v for k, v in request.args.items() if k != "cursor"}
        query["cursor"] = page.next_cursor
        next_url = url_for("moderation_api.list_queue", site=site, **query)
    counts = queue.status_counts(session, site_row.id)
    return jsonify(
        {
            "status": args["status"],
            "order": args["order"],
            "counts": {k: {"count": n, "capped": capped} for k, (n, capped) in counts.items()},
            "items": [dump_queue_item(item) for item in page.items],
            "next_cursor": page.next_cursor,
            "next": next_url,
        }
    )


@bp.get("/comments/<int:comment_id>")
def comment_detail(site: str, comment_id: int) -> Response:
    """Everything about one comment: checks, context, author history, audit trail."""
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.VIEWER)
    detail = queue.comment_detail(session, site_row.id, comment_id, vault=vault())
    return jsonify(dump_detail(detail))


@bp.post("/comments/<int:comment_id>/decision")
def decide(site: str, comment_id: int) -> Response:
    """Approve, reject, spam, ham (not spam) or delete: 200 with the comment, 409 when the
    comment already has that status or someone else decided it first."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.MODERATOR)
    data = DecisionRequestSchema().load(read_json())
    expected = CommentStatus(data["expected_status"]) if data["expected_status"] else None
    comment = review.decide(
        session,
        site_row.id,
        comment_id,
        ReviewAction(data["action"]),
        principal,
        expected=expected,
        note=data["note"],
    )
    session.commit()
    return jsonify({"comment": _moderated(comment)})


@bp.post("/bulk")
def bulk(site: str) -> Response:
    """The same action on many comments; 200 listing what was decided and what was not."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.MODERATOR)
    data = BulkRequestSchema().load(read_json())
    result = review.decide_many(
        session, site_row.id, data["ids"], ReviewAction(data["action"]), principal
    )
    session.commit()
    return jsonify(
        {
            "decided": [{"id": c.id, "status": c.status.value} for c in result.decided],
            "failed": {str(k): v for k, v in result.failed.items()},
        }
    )


@bp.post("/comments/<int:comment_id>/reply")
def reply(site: str, comment_id: int) -> Response:
    """Publish a reply as the site, approved at once: 201 with the reply."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.MODERATOR)
    data = ReplyRequestSchema().load(read_json())
    made = review.reply_as_site(
        session, site_row, comment_id, data["comment"], principal, vault=vault()
    )
    session.commit()
    response = jsonify({"comment": _moderated(made)})
    response.status_code = 201
    return response


@bp.post("/comments/<int:comment_id>/author")
def mark_author(site: str, comment_id: int) -> Response:
    """Ban or trust the comment's author (by email, or ban by IP prefix), or clear marks."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.MODERATOR)
    data = AuthorMarkRequestSchema().load(read_json())
    mark = review.mark_author(
        session,
        site_row.id,
        comment_id,
        data["action"],
        principal,
        by=data["by"],
        reason=data["reason"],
    )
    session.commit()
    return jsonify({"mark": dump_mark(mark) if mark else None})


@bp.post("/comments/<int:comment_id>/reveal-email")
def reveal_email(site: str, comment_id: int) -> Response:
    """The full email, for admins only; the reveal is in the audit log."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    email = review.reveal_email(session, site_row.id, comment_id, principal, vault())
    session.commit()  # the audit row first: no reveal that is not on record
    response = jsonify({"email": email})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/authors/<author>")
def author_view(site: str, author: str) -> Response:
    """An author's history on the site and their latest comments (any status)."""
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.VIEWER)
    index = authors.parse_author_key(author)
    recent = queue.author_comments(session, site_row.id, index)
    ip_prefix = recent[0].ip_truncated if recent else None
    return jsonify(
        {
            "key": author,
            "history": authors.history(session, site_row.id, index),
            "marks": [
                dump_mark(m) for m in authors.marks_for(session, site_row.id, index, ip_prefix)
            ],
            "comments": [_moderated(c) for c in recent],
        }
    )


@bp.get("/audit")
def audit_log(site: str) -> Response:
    """The site's audit log, newest first; `before=<id>` pages, `comment=<id>` filters."""
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.VIEWER)
    page = audit.entries(
        session,
        site_row.id,
        before=request.args.get("before", type=db_int),
        comment_id=request.args.get("comment", type=db_int),
        limit=max(1, min(request.args.get("limit", 50, type=db_int) or 50, 200)),
    )
    return jsonify(
        {"entries": [dump_audit(e) for e in page.entries], "next_before": page.next_before}
    )


@bp.get("/stats")
def site_stats(site: str) -> Response:
    """Comments per day by status, queue sizes and ages, top reasons, spam rate."""
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.VIEWER)
    days = request.args.get("days", 30, type=db_int) or 30
    return jsonify(dump_stats(stats.site_stats(session, site_row.id, days=days)))


@bp.get("/settings")
def get_settings(site: str) -> Response:
    """The settings in effect: the site's own values over the defaults."""
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.VIEWER)
    return jsonify(site_settings.current(site_row))


@bp.route("/settings", methods=["PUT", "PATCH"])
def change_settings(site: str) -> Response:
    """Change any of the keys GET returns (core.site_settings.PARSERS: word lists, link and
    domain rules, pre-moderation, form timing, classifier thresholds, flood limits, shadow
    checks) for admins; only the keys sent change. 422 names every invalid field; audited."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    after = site_settings.update(session, site_row, read_json(), principal)
    session.commit()
    cache: SiteCache = current_app.extensions["replyguard.sites"]
    cache.forget(site)
    return jsonify(after)


@bp.put("/threads/<path:thread>/premoderation")
def thread_premoderation(site: str, thread: str) -> Response:
    """Turn pre-moderation of one thread on or off (admins); audited."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    data = PremoderationRequestSchema().load(read_json())
    row = review.set_thread_premoderation(
        session, site_row.id, thread, data["premoderation"], principal
    )
    session.commit()
    return jsonify({"thread": row.key, "premoderation": row.premoderated})
