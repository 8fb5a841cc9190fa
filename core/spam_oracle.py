"""The Akismet-compatible oracle: answer "is this spam?" for a comment Replyguard never
stores, with the very pipeline the worker uses, and take submit-spam / submit-ham as
training labels.

The HTTP adapter (api.views.akismet) turns Akismet's form fields into an `AkismetComment`
(`AkismetComment.from_form`), authenticates the API key, and calls `check` or `submit`.

How our four actions become Akismet's two answers (documented in docs/akismet.md):

- approve → "false" (not spam: safe to publish);
- hold, reject, spam → "true": Akismet has no "hold for a human", and the caller must not
  publish any of these automatically; the caller's own spam queue is where a person looks.
  Our action is in `OracleAnswer.decision` (the `X-replyguard-decision` header);
- a check that cannot run (CheckUnavailable) → "true" with decision "hold": a missing check
  never auto-approves, here as in the worker;
- the discard tip (`X-akismet-pro-tip: discard`, "blatant spam, drop it unseen") only when
  the pipeline says spam and the deciding verdict is certain: score ≥ DISCARD_MIN_SCORE.
  Today's spam verdicts (a disallowed word, the honeypot filled, a banned author) are rule
  matches with score 1.0; a future classifier's probabilistic spam verdict below 0.9 gets
  "true" without the tip, so a person can still rescue it.

Nothing about a checked comment is stored: no comment row, no decision, no log line with
its content. The email and IP only become their blind indexes in memory, for the
author-standing checks. (Its answer therefore cannot be looked up later by its guid.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import labels, moderation
from core.checks import Action, CheckUnavailable, default_checks, run_pipeline
from core.checks.base import CommentFacts
from core.privacy import PrivacyVault, truncate_ip
from models import Site, TrainingLabel
from models.base import utcnow

DISCARD_MIN_SCORE = 0.9
# Akismet's documented fields; a honeypot field may not be named like one of them.
KNOWN_FIELDS = frozenset(
    {
        "api_key",
        "key",
        "blog",
        "user_ip",
        "user_agent",
        "referrer",
        "permalink",
        "comment_type",
        "comment_author",
        "comment_author_email",
        "comment_author_url",
        "comment_content",
        "comment_date_gmt",
        "comment_post_modified_gmt",
        "blog_lang",
        "blog_charset",
        "user_role",
        "is_test",
        "recheck_reason",
        "honeypot_field_name",
    }
)
# Longest value kept per metadata field (the form itself is size-limited by the app).
FIELD_LIMITS = {
    "blog": 2000,
    "user_ip": 64,
    "user_agent": 500,
    "referrer": 2000,
    "permalink": 2000,
    "comment_type": 64,
    "comment_author": 245,
    "comment_author_email": 254,
    "comment_author_url": 2000,
}


class MissingField(ValueError):
    """A field Akismet requires is absent or empty; `name` is the field."""

    def __init__(self, name: str) -> None:
        super().__init__(f"Missing required field: {name}.")
        self.name = name


def _field(form: Mapping[str, str], name: str) -> str:
    value = (form.get(name) or "").strip()
    limit = FIELD_LIMITS.get(name)
    return value[:limit] if limit else value


def _parse_gmt(value: str) -> dt.datetime | None:
    """An ISO 8601 time as aware UTC (a time without a zone is taken as UTC); None if bad."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True)
class AkismetComment:
    """One comment as an Akismet client describes it, in our terms."""

    blog: str
    user_ip: str
    content: str
    author: str = ""
    author_email: str = ""
    author_url: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    permalink: str | None = None
    comment_type: str | None = None
    date_gmt: dt.datetime | None = None
    # None: no honeypot was declared; else whether the named hidden field was filled.
    honeypot_filled: bool | None = None
    is_test: bool = False

    @classmethod
    def from_form(cls, form: Mapping[str, str], *, require_ip: bool = True) -> AkismetComment:
        """Read Akismet's form fields; MissingField for an absent `blog` or `user_ip`."""
        required = ("blog", "user_ip") if require_ip else ("blog",)
        for name in required:
            if not _field(form, name):
                raise MissingField(name)
        honeypot_name = _field(form, "honeypot_field_name")
        honeypot: bool | None = None
        if honeypot_name and honeypot_name not in KNOWN_FIELDS:
            honeypot = bool((form.get(honeypot_name) or "").strip())
        return cls(
            blog=_field(form, "blog"),
            user_ip=_field(form, "user_ip"),
            content=form.get("comment_content") or "",
            author=_field(form, "comment_author"),
            author_email=_field(form, "comment_author_email"),
            author_url=_field(form, "comment_author_url") or None,
            user_agent=_field(form, "user_agent") or None,
            referrer=_field(form, "referrer") or None,
            permalink=_field(form, "permalink") or None,
            comment_type=_field(form, "comment_type") or None,
            date_gmt=_parse_gmt(_field(form, "comment_date_gmt")),
            honeypot_filled=honeypot,
            is_test=_field(form, "is_test").lower() in ("1", "true", "yes"),
        )


def facts_for(comment: AkismetComment, site_id: int, vault: PrivacyVault) -> CommentFacts:
    """What the checks see: the site, no comment id, the email's blind index (for the
    author's standing) and the IP truncated plus its blind index, as core.comments keeps
    them for a stored comment. A `user_ip` that is not an IP address is ignored."""
    ip_truncated = truncate_ip(comment.user_ip) if comment.user_ip else None
    return CommentFacts(
        body=comment.content,
        author_name=comment.author,
        email=comment.author_email,
        website=comment.author_url,
        ip_truncated=ip_truncated,
        ip_index=vault.ip_index(comment.user_ip) if ip_truncated else None,
        user_agent=comment.user_agent,
        form_signals=(
            {"honeypot": comment.honeypot_filled} if comment.honeypot_filled is not None else None
        ),
        site_id=site_id,
        comment_id=None,
        submitted_at=comment.date_gmt or utcnow(),
        email_index=vault.email_index(comment.author_email) if comment.author_email else None,
        thread_key=None,
    )


@dataclass(frozen=True)
class OracleAnswer:
    """`spam` is Akismet's answer ("true"/"false"); `discard` its pro tip; `decision` what
    the worker would have done; `opinions` each objecting check as (name, action)."""

    spam: bool
    discard: bool
    decision: Action
    opinions: tuple[tuple[str, str], ...]


def check(
    session: Session, site: Site, comment: AkismetComment, *, vault: PrivacyVault
) -> OracleAnswer:
    """Decide the comment exactly as the worker would decide it on this site; store nothing."""
    facts = facts_for(comment, site.id, vault)
    ctx = moderation.context_for(session, site, facts, vault=vault)
    try:
        result = run_pipeline(default_checks(), facts, ctx)
    except CheckUnavailable:
        return OracleAnswer(True, False, Action.HOLD, (("unavailable", Action.HOLD.value),))
    opinions = tuple((name, v.action.value) for name, v in result.verdicts if v is not None)
    deciding = dict(result.verdicts).get(result.decided_by.removeprefix("check:"))
    certain = deciding is not None and deciding.score >= DISCARD_MIN_SCORE
    return OracleAnswer(
        spam=result.action is not Action.APPROVE,
        discard=result.action is Action.SPAM and certain,
        decision=result.action,
        opinions=opinions,
    )


def submit(
    session: Session, site_id: int, comment: AkismetComment, label: str, *, token_id: int
) -> TrainingLabel | None:
    """Record submit-spam ("spam") or submit-ham ("ham") as a training label with the
    text only (the caller commits). Nothing is recorded for a test call (`is_test`) or a
    comment without text."""
    if comment.is_test or not comment.content.strip():
        return None
    return labels.record_label(
        session,
        site_id=site_id,
        body=comment.content,
        label=label,
        source=f"akismet:token:{token_id}",
    )
