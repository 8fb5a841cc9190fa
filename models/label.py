"""What the learning classifiers learn from and what they produce.

`training_labels` is an append-only log of human judgements: a moderator's decision on a
comment, or an Akismet-style submit-spam / submit-ham. Each row keeps the comment text as
it was when labelled (the training example) and nothing that identifies the commenter: no
email, no IP. When a moderator changes their mind the new row supersedes the old one;
readers take the newest row per comment (core.labels).

`site_models` holds one trained model per site and kind, as an opaque serialized payload.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at

LABELS = ("spam", "ham", "abuse")
MODEL_KINDS = ("spam", "toxicity")


class TrainingLabel(Base):
    """One human judgement of one text. `source` says whose: "moderator:<id>",
    "token:<id>" or "akismet:token:<id>"; `comment_id` is None for Akismet submissions
    (their comments are not stored here)."""

    __tablename__ = "training_labels"
    __table_args__ = (
        Index("ix_training_labels_site_id_id", "site_id", "id"),
        CheckConstraint("label IN ('spam', 'ham', 'abuse')", name="label"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    # A comment erased for good takes its labels (its text) with it.
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[created_at]


class SiteModel(Base):
    """The model of one kind ("spam" or "toxicity") currently trained for a site, with how
    many labels it saw, when, and its evaluation metrics."""

    __tablename__ = "site_models"
    __table_args__ = (
        UniqueConstraint("site_id", "kind"),
        CheckConstraint("kind IN ('spam', 'toxicity')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    labels_used: Mapped[int]
    trained_at: Mapped[dt.datetime]
    metrics: Mapped[dict[str, Any] | None]
