"""Wire formats of the moderation API: what moderators send (decisions, bulk actions, replies,
author marks, queue filters, settings) and how queue items, comment details and audit rows
look.

A moderator sees a masked email (`c…@example.org`) and an author key, never the address;
revealing it is its own audited call."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from core.queue import CheckView, CommentDetail, DecisionView, QueueItem, Segment
from core.rendering import comment_html
from core.review import MAX_BULK, ReviewAction
from core.stats import SiteStats
from models import AuditEntry, AuthorMark, Comment, CommentStatus

STATUS_NAMES = [s.value for s in CommentStatus]
ACTION_NAMES = [a.value for a in ReviewAction]


class DecisionRequestSchema(Schema):
    """`{"action": ..., "expected_status": ..., "note": ...}`."""

    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf(ACTION_NAMES))
    # The status the moderator saw; a different current status is a 409.
    expected_status = fields.String(load_default=None, validate=validate.OneOf(STATUS_NAMES))
    note = fields.String(load_default="", validate=validate.Length(max=500))


class BulkRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf(ACTION_NAMES))
    ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1)),
        required=True,
        validate=validate.Length(min=1, max=MAX_BULK),
    )


class ReplyRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    comment = fields.String(required=True, validate=validate.Length(min=1, max=65525))


class AuthorMarkRequestSchema(Schema):
    """Ban or trust the author of a comment (by email, or for bans by IP prefix), or clear."""

    class Meta:
        unknown = RAISE

    action = fields.String(required=True, validate=validate.OneOf(["ban", "trust", "clear"]))
    by = fields.String(load_default="email", validate=validate.OneOf(["email", "ip"]))
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class PremoderationRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    premoderation = fields.Boolean(required=True)


def _parse_when(value: str, field: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError({field: ["an ISO 8601 date or date-time"]}) from exc
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


class QueueArgsSchema(Schema):
    """Query parameters of the queue listing."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default="held", validate=validate.OneOf(STATUS_NAMES))
    order = fields.String(load_default="newest", validate=validate.OneOf(["newest", "oldest"]))
    thread = fields.String(load_default=None, validate=validate.Length(min=1, max=200))
    check = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    since = fields.String(load_default=None)
    until = fields.String(load_default=None)
    author = fields.String(load_default=None, validate=validate.Length(min=1, max=245))
    email = fields.String(load_default=None, validate=validate.Length(min=3, max=254))
    cursor = fields.Integer(load_default=None, validate=validate.Range(min=1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))

    def load_args(self, args: Any) -> dict[str, Any]:
        """Load request.args; `since` / `until` become aware datetimes."""
        data: dict[str, Any] = self.load(args.to_dict(flat=True))
        for name in ("since", "until"):
            if data[name] is not None:
                data[name] = _parse_when(data[name], name)
        return data


def dump_check(check: CheckView) -> dict[str, Any]:
    """One check's verdict: `verdict` is None when it had no opinion; `shadow` when it ran
    in shadow mode (recorded, never acted on); `position` is its place in the pipeline."""
    return {
        "check": check.name,
        "label": check.label,
        "position": check.position,
        "verdict": check.action,
        "objected": check.objected,
        "shadow": check.shadow,
        "score": check.score,
        "reason": check.reason,
        "spans": check.spans,
    }


def dump_decision(view: DecisionView) -> dict[str, Any]:
    """A decision with its checks in core.queue.explained_order: the objections acted on
    first, then the shadow-mode objections, the approving verdicts, and the checks without
    an opinion (`position` gives the pipeline's order back)."""
    return {
        "id": view.id,
        "decided_by": view.decided_by,
        "from_status": view.from_status,
        "to_status": view.to_status,
        "reason": view.reason,
        "at": view.created_at.isoformat(),
        "checks": [dump_check(c) for c in view.explained],
    }


def dump_segment(segment: Segment) -> dict[str, Any]:
    return {"text": segment.text, "checks": list(segment.checks), "shadow": segment.shadow}


def dump_moderated_comment(
    comment: Comment, *, masked_email: str, author_key: str
) -> dict[str, Any]:
    """A comment as a moderator sees it: everything but the email (masked) and full IP."""
    thread = comment.thread
    return {
        "id": comment.id,
        "status": comment.status.value,
        "thread": {"key": thread.key, "url": thread.url, "title": thread.title},
        "parent_id": comment.parent_id,
        "author_name": comment.author_name,
        "author_key": author_key,
        "masked_email": masked_email,
        "website": comment.website,
        "ip_prefix": comment.ip_truncated,
        "user_agent": comment.user_agent,
        "body": comment.body,
        "body_html": comment_html(comment.body),
        "submitted_at": comment.submitted_at.isoformat(),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
    }


def dump_queue_item(item: QueueItem) -> dict[str, Any]:
    out = dump_moderated_comment(
        item.comment, masked_email=item.masked_email, author_key=item.author_key
    )
    out["latest_decision"] = dump_decision(item.latest) if item.latest else None
    return out


def _brief(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "status": comment.status.value,
        "author_name": comment.author_name,
        "body": comment.body,
        "submitted_at": comment.submitted_at.isoformat(),
    }


def dump_mark(mark: AuthorMark) -> dict[str, Any]:
    return {
        "id": mark.id,
        "kind": mark.kind,
        "by": "email" if mark.email_index is not None else "ip",
        "ip_prefix": mark.ip_prefix,
        "reason": mark.reason,
        "created_by": mark.created_by,
        "at": mark.created_at.isoformat(),
    }


def dump_audit(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "actor": entry.actor,
        "actor_name": entry.actor_name,
        "action": entry.action,
        "comment_id": entry.comment_id,
        "before": entry.before,
        "after": entry.after,
        "detail": entry.detail,
        "at": entry.created_at.isoformat(),
    }


def dump_detail(detail: CommentDetail) -> dict[str, Any]:
    out = dump_moderated_comment(
        detail.comment, masked_email=detail.masked_email, author_key=detail.author_key
    )
    out.update(
        {
            "decisions": [dump_decision(d) for d in detail.decisions],
            # The body cut at the flagged spans (joined, the segments' text is the body).
            "segments": [dump_segment(g) for g in detail.segments],
            "context": {
                "parent": _brief(detail.parent) if detail.parent else None,
                "replies": [_brief(r) for r in detail.replies],
            },
            "author": {
                "key": detail.author_key,
                "history": detail.author_history,
                "marks": [dump_mark(m) for m in detail.marks],
            },
            "audit": [dump_audit(e) for e in detail.audit],
        }
    )
    return out


def dump_stats(stats: SiteStats) -> dict[str, Any]:
    return {
        "days": [d.isoformat() for d in stats.days],
        "per_day": stats.per_day,
        "queues": [
            {
                "status": q.status,
                "size": q.size,
                "oldest": q.oldest.isoformat() if q.oldest else None,
            }
            for q in stats.queues
        ],
        "top_reasons": [{"check": name, "count": count} for name, count in stats.top_reasons],
        "spam_rate": stats.spam_rate,
        "decided_total": stats.decided_total,
    }
