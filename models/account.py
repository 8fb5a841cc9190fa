"""Moderator accounts, their per-site roles, web sessions, API tokens and login attempts."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, created_at


class Role(enum.StrEnum):
    """What a member may do on a site, from least to most (deny by default)."""

    VIEWER = "viewer"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


def _role_type() -> Enum:
    return Enum(
        Role,
        native_enum=False,
        create_constraint=True,
        length=16,
        name="role",
        values_callable=lambda e: [m.value for m in e],
    )


class Moderator(Base):
    """A person who logs in to the moderation workspace. The password exists only as an
    argon2id hash."""

    __tablename__ = "moderators"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lower-cased login; staff addresses, not commenters', so they are stored as they are.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]
    last_login_at: Mapped[dt.datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="moderator", cascade="all, delete-orphan"
    )


class Membership(Base):
    """A moderator's role on one site."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("moderator_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    role: Mapped[Role] = mapped_column(_role_type())
    created_at: Mapped[created_at]

    moderator: Mapped[Moderator] = relationship(back_populates="memberships")


class WebSession(Base):
    """A logged-in browser. Only the SHA-256 of the cookie value is stored, so a database
    leak does not hand out sessions; revoking sets `revoked_at`."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    moderator_id: Mapped[int] = mapped_column(ForeignKey("moderators.id"), index=True)
    created_at: Mapped[created_at]
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(500))

    moderator: Mapped[Moderator] = relationship(lazy="joined")


class ApiToken(Base):
    """A bearer token for automation, bound to one site and role. Only its SHA-256 is kept;
    `prefix` (the first characters) lets an admin tell tokens apart."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    role: Mapped[Role] = mapped_column(_role_type())
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[created_at]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class LoginAttempt(Base):
    """One password attempt, for throttling per account and per client address (kept in the
    database so every API process sees the same count). The address is its blind index."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "attempted_at"),
        Index("ix_login_attempts_ip_index_at", "ip_index", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    succeeded: Mapped[bool]
    attempted_at: Mapped[created_at]
