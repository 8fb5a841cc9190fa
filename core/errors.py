"""Domain errors. Each carries a stable machine code; api/errors.py maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    code: str = "domain_error"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class SiteNotFound(DomainError):
    code = "site_not_found"


class CommentNotFound(DomainError):
    code = "comment_not_found"


class InvalidSubmission(DomainError):
    """A field is valid on its own but not in context (e.g. a parent in another thread)."""

    code = "validation_failed"


class ThreadClosed(DomainError):
    code = "thread_closed"


class DuplicateComment(DomainError):
    code = "duplicate_comment"


class FloodLimited(DomainError):
    code = "too_many_comments"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OriginNotAllowed(DomainError):
    code = "origin_not_allowed"
