"""Helpers for moderation tests: comments in a chosen state, moderators and tokens."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from core import accounts, comments, moderation
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.privacy import PrivacyVault
from models import Comment, Moderator, Role, Site

PASSWORD = "correct horse battery staple"
HOLD_WORD = "heldword"
_serial = itertools.count(1)


def hold_on_word(session: Session, site: Site) -> None:
    """Make the site hold any comment containing HOLD_WORD."""
    site.policy = {**(site.policy or {}), "moderation_words": [HOLD_WORD]}
    session.commit()


def submitted(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    *,
    body: str | None = None,
    name: str | None = None,
    email: str | None = None,
    thread: str = "council-vote",
    ip: str | None = None,
) -> Comment:
    """A new pending comment (committed), unique unless told otherwise."""
    n = next(_serial)
    comment = comments.submit(
        session,
        site,
        NewComment(
            thread=thread,
            comment=body or f"Comment number {n} about the vote.",
            name=name or f"Reader {n}",
            email=email or f"reader{n}@example.org",
        ),
        meta=SubmissionMeta(ip=ip or f"198.51.{n // 250}.{n % 250 + 1}"),
        vault=vault,
        settings=settings.with_overrides(flood_seconds=0),
    )
    session.commit()
    return comment


def decided(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, **kwargs: str
) -> Comment:
    """A comment submitted and decided by the pipeline (held if its body has HOLD_WORD)."""
    comment = submitted(session, site, vault, settings, **kwargs)
    moderation.moderate(session, comment.id, vault=vault)
    session.commit()
    return comment


def held(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings, **kwargs: str
) -> Comment:
    """A comment the pipeline held for a human (through a moderation word)."""
    hold_on_word(session, site)
    body = kwargs.pop("body", None) or f"A remark with the {HOLD_WORD} in it, {next(_serial)}."
    return decided(session, site, vault, settings, body=body, **kwargs)


def moderator(session: Session, site: Site, role: Role, email: str) -> Moderator:
    account = accounts.create_moderator(session, email, PASSWORD, display_name=email.split("@")[0])
    accounts.grant(session, account, site, role)
    session.commit()
    return account


def token(session: Session, site: Site, role: Role) -> dict[str, str]:
    """Authorization headers with a fresh API token for the site and role."""
    issued = accounts.create_token(session, site, role, label="test")
    session.commit()
    return {"Authorization": f"Bearer {issued.secret}"}
