"""The audit log: who did what to which comment or setting, before → after, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at


class AuditEntry(Base):
    """One human (or token) action. Automatic decisions are in `decisions`; this log is for
    people: decisions, email reveals, bans, setting changes, logins."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_site_id_id", "site_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    # "moderator:<id>" or "token:<id>"; `actor_name` is the name shown at the time.
    actor: Mapped[str] = mapped_column(String(100))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    before: Mapped[str | None] = mapped_column(String(40))
    after: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_at]


class AuthorMark(Base):
    """A moderator's standing for an author on a site: `ban` (their comments become spam)
    or `trust`. An author is their email blind index, or an IP prefix for bans."""

    __tablename__ = "author_marks"
    __table_args__ = (
        Index("ix_author_marks_site_id_email_index", "site_id", "email_index"),
        Index("ix_author_marks_site_id_ip_prefix", "site_id", "ip_prefix"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(8))  # "ban" | "trust"
    email_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    ip_prefix: Mapped[str | None] = mapped_column(String(45))
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[created_at]


class Event(Base):
    """Something other systems may hear about (`comment.approved`, ...), written in the same
    transaction as its cause; webhook deliveries fan out from here. The payload carries no
    email and no IP address."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_site_id_id", "site_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable public id ("evt_…"), the webhook-id of every delivery of this event.
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    type: Mapped[str] = mapped_column(String(40))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_at]
