"""The check interface: what a check sees (CheckContext) and what it says (Verdict)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


class Action(enum.StrEnum):
    """What a verdict asks for, from mildest to most severe."""

    APPROVE = "approve"
    HOLD = "hold"
    REJECT = "reject"
    SPAM = "spam"

    @property
    def severity(self) -> int:
        return list(Action).index(self)


class CheckUnavailable(Exception):
    """A check could not run (model missing, provider down). The comment is then held for
    a human after the task's retries: a missing check never auto-approves."""


@dataclass(frozen=True)
class Verdict:
    """One check's opinion with a reason a moderator can read."""

    action: Action
    reason: str
    score: float = 1.0
    spans: tuple[tuple[int, int], ...] = ()

    @classmethod
    def hold(
        cls, reason: str, score: float = 1.0, spans: tuple[tuple[int, int], ...] = ()
    ) -> Verdict:
        return cls(Action.HOLD, reason, score, spans)


@dataclass(frozen=True)
class CommentFacts:
    """Everything a check may look at, decrypted and detached from the database."""

    body: str
    author_name: str
    email: str
    website: str | None
    ip_truncated: str | None
    ip_index: bytes | None
    user_agent: str | None
    # What the submitting form reported (core.formtoken.form_signals); None for API clients.
    form_signals: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CheckContext:
    """The site's policy, what moderators decided about the author, and helpers."""

    policy: dict[str, Any] = field(default_factory=dict)
    ip_index_of: Any = None  # Callable[[str], bytes]: HMAC of a full IP, for IP word matches
    # "ban" or "trust" when a moderator marked this author (email or IP prefix), else None.
    author_standing: str | None = None
    author_standing_reason: str = ""
    # The site or the thread holds every comment for a human.
    premoderated: bool = False


class Check(Protocol):
    """A pure check: no database writes; returns None when it has no opinion."""

    name: ClassVar[str]

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None: ...
