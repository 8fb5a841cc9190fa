"""The demo article at `/demo`: a news page ending with its approved comments rendered
server-side (the same fragment `GET .../threads/<thread>/comments.html` serves) and the plain
HTML "Leave a Reply" form that posts to the API, so it works without JavaScript; the embed
script then replaces both with the widget (progressive enhancement).

After a form post the API redirects here with `rg_status=awaiting-moderation&rg_comment=<id>`.
If that comment is already approved (a fast worker), the reader is told it is published;
otherwise (pending, held, and also rejected or spam, which are not announced) that it is
awaiting moderation, as WordPress says it. Ids that are not ours show nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request, url_for
from sqlalchemy.orm import Session

from api.context import form_tokens
from api.db import get_session
from api.payloads import db_int
from api.schemas import dump_comment
from api.views.comments import AWAITING_MARKER, site_settings
from core import comments
from core.errors import CommentNotFound
from core.sites import DEMO_SITE_KEY, SiteLike
from models import CommentStatus

bp = Blueprint("demo", __name__)

DEMO_THREAD = "welcome-to-replyguard"
DEMO_TITLE = "Council approves new riverside park"


def _notice(session: Session, site: SiteLike) -> tuple[str, int] | None:
    """("published" | "awaiting", id) for the redirect marker's comment, if it is ours."""
    comment_id = request.args.get("rg_comment", type=db_int)
    if request.args.get("rg_status") != AWAITING_MARKER or comment_id is None:
        return None
    try:
        comment = comments.get_comment(session, site, comment_id)
    except CommentNotFound:
        return None
    kind = "published" if comment.status is CommentStatus.APPROVED else "awaiting"
    return kind, comment.id


@bp.get("/demo")
def article() -> Response:
    """The demo article with its approved comments and the form (never cached: the form
    carries a form token issued for this page view)."""
    session = get_session(read_only=True)
    site = site_settings(session, DEMO_SITE_KEY)
    page = comments.approved_thread(session, site, DEMO_THREAD, after=None, limit=200)
    article_url = url_for("demo.article", _external=True)
    html = render_template(
        "demo.html",
        site=DEMO_SITE_KEY,
        thread=DEMO_THREAD,
        thread_title=DEMO_TITLE,
        thread_url=article_url,
        redirect_to=article_url,
        action=url_for("comments.submit_comment", site=DEMO_SITE_KEY),
        form_token=form_tokens().issue(DEMO_SITE_KEY, DEMO_THREAD),
        comments=[dump_comment(node) for node in page.roots],
        total=page.total,
        next_url=url_for(
            "threads.thread_fragment",
            site=DEMO_SITE_KEY,
            thread=DEMO_THREAD,
            after=page.next_after,
        )
        if page.next_after is not None
        else None,
        notice=_notice(session, site),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
