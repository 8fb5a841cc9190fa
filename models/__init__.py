"""Tables: SQLAlchemy 2 declarative models and the engine/session factory. Imports nothing of ours
outside this package."""

from models.base import Base
from models.comment import Comment, CommentStatus
from models.decision import CheckResult, Decision
from models.outbox import OutboxEntry
from models.site import Site, Thread

__all__ = [
    "Base",
    "CheckResult",
    "Comment",
    "CommentStatus",
    "Decision",
    "OutboxEntry",
    "Site",
    "Thread",
]
