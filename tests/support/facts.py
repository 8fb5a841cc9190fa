"""A comment as the checks see it, for unit tests of single checks and the pipeline."""

from __future__ import annotations

from core.checks.base import CommentFacts


def facts(body: str = "Nice article.", **kw: object) -> CommentFacts:
    """CommentFacts of a plain reader's comment; keyword arguments override any field."""
    base: dict[str, object] = dict(
        body=body,
        author_name="Ann",
        email="ann@example.org",
        website=None,
        ip_truncated="203.0.113.0",
        ip_index=None,
        user_agent="Mozilla/5.0",
    )
    base.update(kw)
    return CommentFacts(**base)  # type: ignore[arg-type]
