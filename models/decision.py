"""The audit trail: one Decision per status change, with every check's verdict."""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, created_at


class Decision(Base):
    """Who or what moved a comment from one status to another, and why."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id"), index=True)
    # "pipeline", "sweeper" or "moderator:<id>"
    decided_by: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created_at]

    checks: Mapped[list[CheckResult]] = relationship(
        back_populates="decision", order_by="CheckResult.position", cascade="all, delete-orphan"
    )


class CheckResult(Base):
    """One check's verdict inside a decision; `action` is None when it had no opinion."""

    __tablename__ = "check_results"
    __table_args__ = (
        # The queue's `check=` filter: the decisions in which a given check objected.
        Index(
            "ix_check_results_objections",
            "check_name",
            "decision_id",
            postgresql_where=text("action IS NOT NULL"),
            sqlite_where=text("action IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    position: Mapped[int]
    check_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Offending [start, end) character offsets in the comment body, for highlighting.
    spans: Mapped[list[list[int]] | None] = mapped_column(JSON)
    # A check run in shadow mode (being evaluated): its verdict is recorded, never acted on.
    shadow: Mapped[bool] = mapped_column(default=False, server_default=false())

    decision: Mapped[Decision] = relationship(back_populates="checks")
