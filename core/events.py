"""Events other systems hear about through webhooks, written in the transaction of their cause.

The payload is versioned and thin: ids, the site, the thread, the public author name, the
comment's text and HTML, its status and times. Never an email, never an IP address.
Each event fans out to the site's subscribed webhook endpoints in the same transaction.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.orm import Session

from core.rendering import comment_html
from core.webhooks import fanout
from models import Comment, CommentStatus, Event

PAYLOAD_VERSION = 1
EVENT_FOR_STATUS = {
    CommentStatus.APPROVED: "comment.approved",
    CommentStatus.HELD: "comment.held",
    CommentStatus.REJECTED: "comment.rejected",
    CommentStatus.SPAM: "comment.spam",
    CommentStatus.DELETED: "comment.deleted",
}
EVENT_TYPES = tuple(EVENT_FOR_STATUS.values())


def comment_payload(comment: Comment) -> dict[str, Any]:
    """The public view of a comment as events carry it."""
    thread = comment.thread
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "thread": {"key": thread.key, "url": thread.url, "title": thread.title},
        "author_name": comment.author_name,
        "website": comment.website,
        "body": comment.body,
        "body_html": comment_html(comment.body),
        "status": comment.status.value,
        "submitted_at": comment.submitted_at.isoformat(),
        "decided_at": comment.decided_at.isoformat() if comment.decided_at else None,
    }


def emit_for_status(session: Session, comment: Comment) -> Event | None:
    """Record the event for the comment's new status (none for `pending`)."""
    event_type = EVENT_FOR_STATUS.get(comment.status)
    if event_type is None:
        return None
    event = Event(
        public_id="evt_" + secrets.token_urlsafe(18),
        site_id=comment.site_id,
        type=event_type,
        comment_id=comment.id,
        payload={
            "version": PAYLOAD_VERSION,
            "type": event_type,
            "site": comment.thread.site.key,
            "comment": comment_payload(comment),
        },
    )
    session.add(event)
    fanout.fan_out(session, event)  # deliveries commit (or roll back) with the decision
    return event
