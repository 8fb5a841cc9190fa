"""The Akismet-compatible API (`/1.1/verify-key`, `/1.1/comment-check`, `/1.1/submit-spam`,
`/1.1/submit-ham`), so software that speaks Akismet (WordPress plugins, Akismet client
libraries) can use Replyguard by changing the base URL. See docs/akismet.md.

Akismet's conventions are kept: form-encoded POSTs, plain-text answers with status 200,
`api_key` (or the older `key`) in the body, problems reported in `X-akismet-debug-help`.
The API key is a Replyguard API token of one site: any role may check comments and verify
the key; submitting spam or ham needs the moderator role. Keys and comment texts are never
logged.
"""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from api.context import vault
from api.db import get_session, write_apart
from core import accounts, spam_oracle
from core.access import Principal
from core.errors import NotAuthenticated
from core.spam_oracle import AkismetComment, MissingField
from models import Role, Site

log = logging.getLogger(__name__)

bp = Blueprint("akismet", __name__, url_prefix="/1.1")

THANKS = "Thanks for making the web a better place."
BAD_KEY_HELP = "The api_key is not a valid Replyguard API token (unknown or revoked)."
NEEDS_MODERATOR_HELP = (
    "This API key can check comments only: submit-spam and submit-ham need a token with "
    "the moderator role."
)


def _text(body: str, headers: dict[str, str] | None = None, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/plain")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _help(body: str, message: str) -> Response:
    """An Akismet-style refusal: status 200, the body, the reason in X-akismet-debug-help."""
    return _text(body, {"X-akismet-debug-help": message})


def _caller(needed: Role) -> tuple[Principal, int] | Response:
    """The token's principal and its site id, or the Akismet answer refusing the key."""
    key = (request.form.get("api_key") or request.form.get("key") or "").strip()
    if not key:
        return _help("invalid", "Missing required field: api_key.")
    session = get_session(read_only=needed is Role.VIEWER)
    try:
        principal = accounts.resolve_token(session, key)
    except NotAuthenticated:
        return _help("invalid", BAD_KEY_HELP)
    [(site_id, role)] = principal.roles.items()  # a token has one role on one site
    if role.rank < needed.rank:
        return _help("invalid", NEEDS_MODERATOR_HELP)
    if principal.activity_due:
        write_apart(session, lambda s: accounts.record_activity(s, principal))
    return principal, site_id


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge) -> Response:
    return _text(
        "Request too large.",
        {"X-akismet-debug-help": "The request body or one of its fields is too large."},
        status=413,
    )


@bp.post("/verify-key")
def verify_key() -> Response:
    """`valid` for a live token of any role, else `invalid` with the reason."""
    caller = _caller(Role.VIEWER)
    if isinstance(caller, Response):
        return caller
    if not (request.form.get("blog") or "").strip():
        return _help("invalid", "Missing required field: blog.")
    return _text("valid")


@bp.post("/comment-check")
def comment_check() -> Response:
    """`true` (spam, or not safe to publish automatically) or `false`, decided by the
    site's pipeline; nothing is stored. `X-akismet-pro-tip: discard` for certain spam."""
    caller = _caller(Role.VIEWER)
    if isinstance(caller, Response):
        return caller
    _principal, site_id = caller
    try:
        comment = AkismetComment.from_form(request.form)
    except MissingField as missing:
        return _help(str(missing), str(missing))
    session = get_session(read_only=True)
    site = session.get(Site, site_id)
    if site is None:  # the token outlived its site
        return _help("invalid", BAD_KEY_HELP)
    answer = spam_oracle.check(session, site, comment, vault=vault())
    headers = {
        "X-akismet-guid": str(uuid.uuid4()),
        "X-replyguard-decision": answer.decision.value,
        "X-replyguard-reasons": ",".join(f"{name}={act}" for name, act in answer.opinions)
        or "none",
    }
    if answer.discard:
        headers["X-akismet-pro-tip"] = "discard"
    log.info(
        "akismet comment-check",
        extra={"site_id": site_id, "decision": answer.decision.value, "discard": answer.discard},
    )
    return _text("true" if answer.spam else "false", headers)


def _submit(label: str) -> Response:
    caller = _caller(Role.MODERATOR)
    if isinstance(caller, Response):
        return caller
    principal, site_id = caller
    try:
        comment = AkismetComment.from_form(request.form, require_ip=False)
    except MissingField as missing:
        return _help(str(missing), str(missing))
    session = get_session()
    assert principal.token_id is not None  # resolve_token always sets it
    row = spam_oracle.submit(session, site_id, comment, label, token_id=principal.token_id)
    session.commit()
    outcome = "recorded" if row is not None else "skipped"
    log.info("akismet submit", extra={"site_id": site_id, "label": label, "outcome": outcome})
    return _text(THANKS, {"X-replyguard-label": outcome})


@bp.post("/submit-spam")
def submit_spam() -> Response:
    """A missed spam: recorded as a "spam" training label (text only)."""
    return _submit("spam")


@bp.post("/submit-ham")
def submit_ham() -> Response:
    """A false positive: recorded as a "ham" training label (text only)."""
    return _submit("ham")
