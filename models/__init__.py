"""Tables: SQLAlchemy 2 declarative models and the engine/session factory. Imports nothing of ours
outside this package."""

from models.account import ApiToken, LoginAttempt, Membership, Moderator, Role, WebSession
from models.audit import AuditEntry, AuthorMark, Event
from models.base import Base
from models.comment import Comment, CommentStatus
from models.decision import CheckResult, Decision
from models.label import SiteModel, TrainingLabel
from models.outbox import OutboxEntry
from models.site import Site, Thread
from models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiToken",
    "AuditEntry",
    "AuthorMark",
    "Base",
    "CheckResult",
    "Comment",
    "CommentStatus",
    "Decision",
    "DeliveryStatus",
    "Event",
    "LoginAttempt",
    "Membership",
    "Moderator",
    "OutboxEntry",
    "Role",
    "Site",
    "SiteModel",
    "Thread",
    "TrainingLabel",
    "WebSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
