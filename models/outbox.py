"""The transactional outbox: a task to send, written in the same transaction as its cause."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_at


class OutboxEntry(Base):
    """A task (by stable name) for one object id. It lives until the task has done its work,
    so the sweeper can re-send whatever a lost message or a dead worker left behind."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("task_name", "ref_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_name: Mapped[str] = mapped_column(String(100))
    ref_id: Mapped[int]
    created_at: Mapped[created_at]
    # When the sweeper may next re-send it; `dispatches` counts sends so far and
    # `attempts` counts task runs that started (committed before the work begins, so a
    # run that crashes or kills its worker is still counted).
    next_dispatch_at: Mapped[dt.datetime] = mapped_column(index=True)
    dispatches: Mapped[int] = mapped_column(default=1)
    attempts: Mapped[int] = mapped_column(default=0)
