"""Sites (a newsroom's property) and threads (one article's comment section)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, created_at


class Site(Base):
    """A site that embeds the form. `key` is public (e.g. `demo`); `policy` holds its rules."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Exact origins (scheme://host[:port]) allowed to post and to read cross-origin.
    allowed_origins: Mapped[list[str]] = mapped_column(default=list)
    # Per-site moderation policy, e.g. {"max_links": 2, "disallowed_words": [...]}.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[created_at]


class Thread(Base):
    """One article's comment section, identified by a key the site chooses."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("site_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    key: Mapped[str] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(String(300))
    closed: Mapped[bool] = mapped_column(default=False)
    # Pre-moderation: every comment of this thread is held for a human.
    premoderated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]

    site: Mapped[Site] = relationship(lazy="joined")
