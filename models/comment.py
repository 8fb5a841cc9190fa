"""Comments. Visibility is decided by `status`, never by deleting rows."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, created_at
from models.site import Thread


class CommentStatus(enum.StrEnum):
    """Where a comment stands. Only `approved` comments are public."""

    PENDING = "pending"
    APPROVED = "approved"
    HELD = "held"
    REJECTED = "rejected"
    SPAM = "spam"
    DELETED = "deleted"


class Comment(Base):
    """One submitted comment. The email exists only as ciphertext and a blind index."""

    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_thread_status_id", "thread_id", "status", "id"),
        # The moderation queue: one site's comments in one status, newest first.
        Index("ix_comments_site_status_id", "site_id", "status", "id"),
        # A comment's replies (moderators' thread context).
        Index("ix_comments_parent_id", "parent_id"),
        # Moderators search author names by any part (ILIKE '%…%'): a trigram index on
        # PostgreSQL (pg_trgm); elsewhere a plain index on the column.
        Index(
            "ix_comments_author_name_trgm",
            "author_name",
            postgresql_using="gin",
            postgresql_ops={"author_name": "gin_trgm_ops"},
        ),
        # WordPress's duplicate rule looks up the same text in the same thread; without
        # both columns SQLite scans the whole thread.
        Index("ix_comments_thread_body_hash", "thread_id", "body_hash"),
        Index("ix_comments_email_index_submitted", "email_index", "submitted_at"),
        Index("ix_comments_ip_index_submitted", "ip_index", "submitted_at"),
        # History checks (core.history): the site's comments in a time window (flood), the
        # same text anywhere on the site, and one index per SimHash band (near-duplicates).
        Index("ix_comments_site_submitted", "site_id", "submitted_at"),
        Index("ix_comments_site_body_hash", "site_id", "body_hash", "submitted_at"),
        Index("ix_comments_site_simhash_b0", "site_id", "simhash_b0", "submitted_at"),
        Index("ix_comments_site_simhash_b1", "site_id", "simhash_b1", "submitted_at"),
        Index("ix_comments_site_simhash_b2", "site_id", "simhash_b2", "submitted_at"),
        Index("ix_comments_site_simhash_b3", "site_id", "simhash_b3", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id"))
    # The thread's site, copied so the moderation queue needs no join to find a site's rows.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id"))
    author_name: Mapped[str] = mapped_column(String(245))
    website: Mapped[str | None] = mapped_column(String(200))
    email_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    email_key_id: Mapped[str] = mapped_column(String(32))
    email_index: Mapped[bytes] = mapped_column(LargeBinary(32))
    ip_index: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    ip_truncated: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    referrer: Mapped[str | None] = mapped_column(String(2000))
    body: Mapped[str] = mapped_column(Text)
    # SHA-256 of the body, for WordPress-style duplicate detection without comparing Text.
    body_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # SimHash of the normalised body (core.text.fingerprint) and its four 16-bit bands, for
    # near-duplicate lookups; all NULL for very short bodies and rows stored before 0004.
    simhash: Mapped[int | None] = mapped_column(BigInteger)
    simhash_b0: Mapped[int | None]
    simhash_b1: Mapped[int | None]
    simhash_b2: Mapped[int | None]
    simhash_b3: Mapped[int | None]
    status: Mapped[CommentStatus] = mapped_column(
        Enum(
            CommentStatus,
            native_enum=False,
            create_constraint=True,
            length=16,
            name="comment_status",
            values_callable=lambda e: [m.value for m in e],
        ),
        default=CommentStatus.PENDING,
    )
    submitted_at: Mapped[created_at]
    decided_at: Mapped[dt.datetime | None]
    # What the submitting form told us (signed form token's age, honeypot), for the checks;
    # None for clients that sent no form token (server-to-server API use).
    form_signals: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    thread: Mapped[Thread] = relationship(lazy="joined")
