"""The demo article at `/demo`: a news page ending with a plain HTML "Leave a Reply" form
that posts to the API (no JavaScript needed), and its approved comments rendered server-side."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from api.db import get_session
from api.schemas import dump_comment
from api.views.comments import AWAITING_MARKER
from core import comments
from core.sites import DEMO_SITE_KEY

bp = Blueprint("demo", __name__)

DEMO_THREAD = "welcome-to-replyguard"


@bp.get("/demo")
def article() -> str:
    """The demo article with its approved comments and the form."""
    session = get_session()
    page = comments.approved_thread(session, DEMO_SITE_KEY, DEMO_THREAD, after=None, limit=200)
    return render_template(
        "demo.html",
        site=DEMO_SITE_KEY,
        thread=DEMO_THREAD,
        comments=[dump_comment(node) for node in page.roots],
        total=page.total,
        awaiting=request.args.get("rg_status") == AWAITING_MARKER,
        awaiting_id=request.args.get("rg_comment", type=int),
    )
