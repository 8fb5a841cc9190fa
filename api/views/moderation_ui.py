"""The moderators' web UI (`/moderation`), part one: logging in and out, the queue, one comment,
and decisions on comments (one at a time or in bulk). Part two, moderation_ui_admin, has the
other actions on a comment and the site's pages (authors, audit log, stats, settings).

Contract: server-rendered pages that work without JavaScript (moderation.js adds keyboard
shortcuts on top). Views load, call the same core functions as the JSON API, commit, then
render or redirect (303). After a decision the moderator lands on the queue they came from
with the next item selected (`focus=<id>` and `#comment-<id>`) and a notice of what was
done; when someone decided the comment first, the comment page comes back with 409 showing
that decision. Pages and errors are HTML; api/moderation_pages.py has what they share
(authentication, security headers, error pages, highlighting).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, make_response, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from api.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    clear_session_cookie,
    client_ip_index,
    csrf_token_for,
    set_session_cookie,
)
from api.context import settings, vault
from api.db import get_session
from api.moderation_pages import (
    NOT_FOUND,
    Page,
    current_principal,
    error_page,
    highlight,
    install,
    local_path,
    open_action,
    open_page,
    queue_state,
    queue_state_from,
    render_page,
    security_headers,
    see_other,
    sites_of,
)
from api.moderation_schemas import BulkRequestSchema, DecisionRequestSchema, QueueArgsSchema
from api.payloads import db_int
from api.views.moderation_api import queue_filter
from core import accounts, audit, queue, review
from core.access import Principal
from core.errors import (
    DecisionConflict,
    InvalidCredentials,
    LoginThrottled,
    NotAuthenticated,
)
from core.review import ReviewAction
from models import CommentStatus

bp = Blueprint("moderation_ui", __name__, url_prefix="/moderation")
install(bp)
bp.after_app_request(security_headers)

LOGIN_COOKIE = "rg_login_csrf"
DONE_WORDS = {
    "approve": "approved",
    "reject": "rejected",
    "spam": "marked as spam",
    "ham": "marked as not spam (published)",
    "delete": "deleted",
}


def available_actions(status: CommentStatus) -> list[ReviewAction]:
    """The actions that make sense for a comment in `status`: never its own status, and
    "not spam" instead of "approve" for spam (it also tells the classifiers they erred)."""
    actions = [a for a in ReviewAction if review.TARGET_STATUS[a] is not status]
    if status is CommentStatus.SPAM:
        return [a for a in actions if a is not ReviewAction.APPROVE]
    return [a for a in actions if a is not ReviewAction.HAM]


def queue_url(site: str, state: dict[str, str], **extra: Any) -> str:
    """The queue with its filters (`state`), plus notice and focus parameters."""
    focus = extra.get("focus")
    values: dict[str, Any] = {**state, **{k: v for k, v in extra.items() if v is not None}}
    anchor = f"comment-{focus}" if focus else None
    return url_for("moderation_ui.queue_page", site=site, _anchor=anchor, **values)


def _notice() -> dict[str, Any] | None:
    """What the previous action did, from the redirect's query (fixed words only)."""
    done = request.args.get("done", "")
    done_id = request.args.get("done_id", type=db_int)
    if done in DONE_WORDS:
        return {"kind": "decision", "word": DONE_WORDS[done], "id": done_id}
    if done.startswith("bulk-") and done[5:] in DONE_WORDS:
        return {
            "kind": "bulk",
            "word": DONE_WORDS[done[5:]],
            "count": request.args.get("count", 0, type=db_int),
            "failed": request.args.get("failed", 0, type=db_int),
        }
    if done in {"bulk-none", "reply", "author-ban", "author-trust", "author-clear"}:
        return {"kind": done, "id": done_id}
    return None


# -- logging in and out ----------------------------------------------------------------------


def _login_nonce() -> tuple[str, bool]:
    """The login form's CSRF secret (a cookie; the form carries its HMAC) and whether it is
    new. Before logging in there is no session to bind the token to, and without it a
    hostile page could log a moderator into someone else's account."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if 20 <= len(nonce) <= 64:
        return nonce, False
    return secrets.token_urlsafe(24), True


def _login_form(
    status: int,
    *,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    next_path: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    nonce, fresh = _login_nonce()
    response = make_response(
        render_template(
            "moderation/login.html",
            page=None,
            site=None,
            sites=[],
            login_csrf=csrf_token_for("login|" + nonce),
            email=email,
            error=error,
            notice=notice,
            next_path=next_path,
        ),
        status,
    )
    if fresh:
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure or settings().is_production,
            path=url_for("moderation_ui.login"),
        )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@bp.get("/login")
def login() -> Response:
    """The login form (it also lets a logged-in moderator switch accounts)."""
    next_path = local_path(request.args.get("next"))
    notice = "You are logged out." if request.args.get("bye") else None
    if request.cookies.get(SESSION_COOKIE):
        try:
            _session, principal = current_principal(read_only=True)
        except NotAuthenticated:
            pass
        else:
            notice = f"You are logged in as {principal.name}."
    return _login_form(200, notice=notice, next_path=next_path)


@bp.post("/login")
def login_post() -> Response:
    """Check the password (throttled per account and address) and start a new session:
    a fresh session id at every login, and the previous one of this browser ended."""
    form = request.form
    next_path = local_path(form.get("next"))
    email = form.get("email", "")[:254]
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(
        form.get(CSRF_FIELD, ""), csrf_token_for("login|" + nonce)
    ):
        error = "This form had expired. Please log in again."
        return _login_form(403, email=email, error=error, next_path=next_path)
    session = get_session()
    try:
        moderator = accounts.authenticate(
            session,
            email,
            form.get("password", "")[:1025],  # longer than any password we accept
            ip_index=client_ip_index(),
            settings=settings(),
        )
    except InvalidCredentials:
        session.commit()  # the failed attempt must count towards the throttle
        error = "Unknown email or wrong password."
        return _login_form(401, email=email, error=error, next_path=next_path)
    except LoginThrottled as exc:
        minutes = max(1, exc.retry_after // 60)
        error = f"Too many failed logins. Please try again in {minutes} minutes."
        headers = {"Retry-After": str(exc.retry_after)}
        return _login_form(429, email=email, error=error, next_path=next_path, headers=headers)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        accounts.end_session(session, previous)
    token = accounts.start_session(session, moderator, user_agent=request.user_agent.string)
    who = Principal(actor=f"moderator:{moderator.id}", name=moderator.display_name)
    audit.record(session, who, "session.login", site_id=None)
    session.commit()
    response = see_other(next_path or url_for("moderation_ui.index"))
    set_session_cookie(response, token)
    response.delete_cookie(LOGIN_COOKIE, path=url_for("moderation_ui.login"))
    return response


@bp.get("/logout")
def logout_page() -> Response:
    """A page with the log-out button (logging out itself is a POST, with the CSRF token)."""
    current_principal(read_only=True)
    return render_page(None, "moderation/logout.html")


@bp.post("/logout")
def logout() -> Response:
    """End the session for good (the cookie cannot be used again), then the login page."""
    session, principal = current_principal(read_only=False)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.end_session(session, token)
    audit.record(session, principal, "session.logout", site_id=None)
    session.commit()
    response = see_other(url_for("moderation_ui.login", bye=1))
    clear_session_cookie(response)
    return response


@bp.get("/")
def index() -> Response:
    """The caller's sites; straight to the queue when there is only one."""
    session, principal = current_principal(read_only=True)
    sites = sites_of(session, principal)
    if len(sites) == 1:
        return see_other(url_for("moderation_ui.queue_page", site=sites[0].key))
    return make_response(
        render_template("moderation/sites.html", page=None, site=None, sites=sites)
    )


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def not_found(_rest: str) -> Response:
    """Any other path under /moderation: the UI's own 404 page, not the API's JSON."""
    return error_page(404, NOT_FOUND)


# -- the queue and one comment ---------------------------------------------------------------


@bp.get("/<site>/")
def queue_page(site: str) -> Response:
    """One page of the queue with counts per status, filters and per-item actions."""
    page = open_page(site)
    state = queue_state(request.args.items())
    args = QueueArgsSchema().load_args(MultiDict(state))
    listing = queue.list_queue(
        page.session,
        page.site.id,
        queue_filter(args),
        vault=vault(),
        cursor=args["cursor"],
        limit=args["limit"],
    )
    ids = [item.comment.id for item in listing.items]
    focus = request.args.get("focus", type=db_int)
    next_url = None
    if listing.next_cursor is not None:
        next_url = queue_url(site, {**state, "cursor": str(listing.next_cursor)})
    return render_page(
        page,
        "moderation/queue.html",
        state=state,
        status=args["status"],
        counts=queue.status_counts(page.session, page.site.id),
        items=listing.items,
        # After a decision the next item is selected: the one below, or the one above.
        neighbours={
            i: (ids[n + 1] if n + 1 < len(ids) else ids[n - 1] if n else None)
            for n, i in enumerate(ids)
        },
        focus=focus if focus in ids else (ids[0] if ids else None),
        return_to=urlencode(state),
        next_url=next_url,
        notice=_notice(),
        actions=available_actions,
        tab_url=lambda status: queue_url(
            site, {k: v for k, v in state.items() if k not in {"status", "cursor"}}, status=status
        ),
    )


def comment_response(page: Page, comment_id: int, *, status: int = 200, **extra: Any) -> Response:
    """The comment page: every check's verdict, score, reason and highlighted spans, the
    thread context, the author's history and marks, the audit trail and the actions."""
    detail = queue.comment_detail(page.session, page.site.id, comment_id, vault=vault())
    spans = [
        span
        for decision in detail.decisions
        for check in decision.checks
        if check.action is not None
        for span in check.spans
    ]
    state = queue_state_from(request.values.get("return_to"))
    return render_page(
        page,
        "moderation/comment.html",
        http_status=status,
        detail=detail,
        comment=detail.comment,
        body=highlight(detail.comment.body, spans),
        actions=available_actions(detail.comment.status),
        return_to=urlencode(state),
        back_url=queue_url(page.site.key, state),
        notice=_notice(),
        **extra,
    )


@bp.get("/<site>/comments/<int:comment_id>")
def comment_page(site: str, comment_id: int) -> Response:
    """One comment, with everything a moderator needs to decide it."""
    return comment_response(open_page(site), comment_id)


# -- actions on comments ---------------------------------------------------------------------


def form_fields(*names: str) -> dict[str, str]:
    """The named, non-empty form fields (the CSRF token and navigation fields stay out of
    the schemas, which refuse unknown keys)."""
    return {n: v for n in names if (v := request.form.get(n, "").strip())}


@bp.post("/<site>/comments/<int:comment_id>/decision")
def decide(site: str, comment_id: int) -> Response:
    """Approve, reject, spam, not spam or delete; 409 with the first decision if someone
    else decided the comment since the moderator saw it."""
    page = open_action(site)
    data = DecisionRequestSchema().load(form_fields("action", "expected_status", "note"))
    expected = CommentStatus(data["expected_status"]) if data["expected_status"] else None
    action = ReviewAction(data["action"])
    try:
        review.decide(
            page.session,
            page.site.id,
            comment_id,
            action,
            page.principal,
            expected=expected,
            note=data["note"],
        )
    except DecisionConflict as exc:
        page.session.rollback()
        conflict = {"message": exc.message, "current": exc.current, "last": exc.last_decision}
        return comment_response(page, comment_id, status=409, conflict=conflict)
    page.session.commit()
    state = queue_state_from(request.form.get("return_to"))
    focus = request.form.get("focus_next", type=db_int)
    target = queue_url(site, state, focus=focus, done=action.value, done_id=comment_id)
    return see_other(target)


@bp.post("/<site>/bulk")
def bulk(site: str) -> Response:
    """The same action on every selected comment; those decided meanwhile are reported."""
    page = open_action(site)
    state = queue_state_from(request.form.get("return_to"))
    ids = request.form.getlist("ids", type=db_int)
    if not ids:
        return see_other(queue_url(site, state, done="bulk-none"))
    data = BulkRequestSchema().load({"action": request.form.get("action", ""), "ids": ids})
    result = review.decide_many(
        page.session, page.site.id, data["ids"], ReviewAction(data["action"]), page.principal
    )
    page.session.commit()
    target = queue_url(
        site,
        state,
        done=f"bulk-{data['action']}",
        count=len(result.decided),
        failed=len(result.failed),
    )
    return see_other(target)
