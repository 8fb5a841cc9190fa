"""The demo article at `/demo`: a news page ending with a plain HTML "Leave a Reply" form
that posts to the API (no JavaScript needed), and its approved comments rendered server-side.

After a form post the API redirects here with `rg_status=awaiting-moderation&rg_comment=<id>`.
If that comment is already approved (a fast worker), the reader is told it is published;
otherwise (pending, held, and also rejected or spam, which are not announced) that it is
awaiting moderation, as WordPress says it. Ids that are not ours show nothing.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy.orm import Session

from api.db import get_session
from api.schemas import dump_comment
from api.views.comments import AWAITING_MARKER, site_settings
from core import comments
from core.errors import CommentNotFound
from core.sites import DEMO_SITE_KEY, SiteLike
from models import CommentStatus

bp = Blueprint("demo", __name__)

DEMO_THREAD = "welcome-to-replyguard"


def _notice(session: Session, site: SiteLike) -> tuple[str, int] | None:
    """("published" | "awaiting", id) for the redirect marker's comment, if it is ours."""
    comment_id = request.args.get("rg_comment", type=int)
    if request.args.get("rg_status") != AWAITING_MARKER or comment_id is None:
        return None
    try:
        comment = comments.get_comment(session, site, comment_id)
    except CommentNotFound:
        return None
    kind = "published" if comment.status is CommentStatus.APPROVED else "awaiting"
    return kind, comment.id


@bp.get("/demo")
def article() -> str:
    """The demo article with its approved comments and the form."""
    session = get_session(read_only=True)
    site = site_settings(session, DEMO_SITE_KEY)
    page = comments.approved_thread(session, site, DEMO_THREAD, after=None, limit=200)
    return render_template(
        "demo.html",
        site=DEMO_SITE_KEY,
        thread=DEMO_THREAD,
        comments=[dump_comment(node) for node in page.roots],
        total=page.total,
        notice=_notice(session, site),
    )
