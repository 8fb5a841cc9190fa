"""Authors as moderators see them: identified by the email's blind index (never the email),
with their history on a site and the marks moderators put on them (ban, trust).

An author key is the hex form of the blind index: stable per email, meaningless without
the index key, and never the address itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from core.access import Principal
from core.errors import InvalidSetting
from models import AuthorMark, Comment, CommentStatus

MARK_KINDS = ("ban", "trust")


def author_key(email_index: bytes) -> str:
    return email_index.hex()


def parse_author_key(key: str) -> bytes:
    """The blind index behind an author key (InvalidSetting when malformed)."""
    try:
        index = bytes.fromhex(key)
    except ValueError:
        index = b""
    if len(index) != 32:
        raise InvalidSetting("not an author key", fields={"author": ["not an author key"]})
    return index


def history(session: Session, site_id: int, email_index: bytes) -> dict[str, int]:
    """How many of the author's comments on the site are in each status."""
    rows = session.execute(
        select(Comment.status, func.count())
        .where(Comment.site_id == site_id, Comment.email_index == email_index)
        .group_by(Comment.status)
    )
    counts = {status.value: 0 for status in CommentStatus}
    for status, count in rows:
        counts[CommentStatus(status).value] = int(count)
    return counts


@dataclass(frozen=True)
class Standing:
    """The strongest mark on an author: a ban outranks trust."""

    kind: str | None
    reason: str = ""
    by_ip: bool = False


def standing(
    session: Session, site_id: int, email_index: bytes | None, ip_truncated: str | None
) -> Standing:
    """Whether the author (by email index, or for bans by IP prefix) is banned or trusted."""
    matches = []
    if email_index is not None:
        matches.append(AuthorMark.email_index == email_index)
    if ip_truncated:
        matches.append(AuthorMark.ip_prefix == ip_truncated)
    if not matches:
        return Standing(None)
    marks = list(
        session.scalars(select(AuthorMark).where(AuthorMark.site_id == site_id, or_(*matches)))
    )
    for mark in marks:
        if mark.kind == "ban":
            return Standing("ban", mark.reason, by_ip=mark.email_index is None)
    for mark in marks:
        if mark.kind == "trust" and mark.email_index is not None:
            return Standing("trust", mark.reason)
    return Standing(None)


def mark(
    session: Session,
    site_id: int,
    principal: Principal,
    kind: str,
    *,
    email_index: bytes | None = None,
    ip_prefix: str | None = None,
    reason: str = "",
) -> AuthorMark:
    """Ban or trust an author; replaces their earlier mark of the other kind. Trust is by
    email only (an IP prefix is shared by many people)."""
    if kind not in MARK_KINDS:
        raise InvalidSetting("unknown mark", fields={"kind": [f"one of {', '.join(MARK_KINDS)}"]})
    if (email_index is None) == (ip_prefix is None):
        raise InvalidSetting("mark an email or an IP prefix", fields={"author": ["required"]})
    if kind == "trust" and email_index is None:
        raise InvalidSetting("trust needs an author", fields={"ip_prefix": ["trust by email"]})
    clear(session, site_id, email_index=email_index, ip_prefix=ip_prefix)
    row = AuthorMark(
        site_id=site_id,
        kind=kind,
        email_index=email_index,
        ip_prefix=ip_prefix,
        reason=reason[:500],
        created_by=principal.actor,
    )
    session.add(row)
    session.flush()
    return row


def clear(
    session: Session,
    site_id: int,
    *,
    email_index: bytes | None = None,
    ip_prefix: str | None = None,
) -> int:
    """Remove the marks on an email index or an IP prefix; how many were removed."""
    target = (
        AuthorMark.email_index == email_index
        if email_index is not None
        else AuthorMark.ip_prefix == ip_prefix
    )
    result = session.execute(delete(AuthorMark).where(AuthorMark.site_id == site_id, target))
    return int(getattr(result, "rowcount", 0) or 0)


def marks_for(
    session: Session, site_id: int, email_index: bytes, ip_truncated: str | None
) -> list[AuthorMark]:
    """Every mark that applies to this author, for the detail view."""
    matches = [AuthorMark.email_index == email_index]
    if ip_truncated:
        matches.append(AuthorMark.ip_prefix == ip_truncated)
    return list(
        session.scalars(
            select(AuthorMark)
            .where(AuthorMark.site_id == site_id, or_(*matches))
            .order_by(AuthorMark.id)
        )
    )
