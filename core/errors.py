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


class NotAuthenticated(DomainError):
    """No valid credentials (missing, expired or revoked session or token)."""

    code = "not_authenticated"


class InvalidCredentials(DomainError):
    """A login with an unknown account or a wrong password (never says which)."""

    code = "invalid_credentials"


class LoginThrottled(DomainError):
    """Too many failed logins for the account or the address; try again later."""

    code = "too_many_login_attempts"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDenied(DomainError):
    """A member of the site whose role does not allow this action."""

    code = "permission_denied"


class DecisionConflict(DomainError):
    """The comment is not in the state the decision expects: someone decided it first, or
    it already has the requested status. `current` is the comment's status now."""

    code = "decision_conflict"

    def __init__(self, message: str, *, current: str, last_decision: dict[str, object] | None):
        super().__init__(message)
        self.current = current
        self.last_decision = last_decision


class InvalidSetting(DomainError):
    """A site setting value is out of range or of the wrong shape."""

    code = "validation_failed"


class WebhookNotFound(DomainError):
    code = "webhook_not_found"


class DeliveryNotFound(DomainError):
    code = "delivery_not_found"


class WebhookUrlBlocked(DomainError):
    """A webhook URL that may not be called: a scheme, port or address we refuse to reach
    (SSRF defence). `reason` is a stable code such as `loopback` or `port_not_allowed`."""

    code = "webhook_url_blocked"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class WebhookDisabled(DomainError):
    """The endpoint is disabled; enable it before sending it anything."""

    code = "webhook_disabled"


class DeliveryInFlight(DomainError):
    """An attempt of this delivery is running right now; replay it once it has finished."""

    code = "delivery_in_flight"
