"""The check interface: what a check sees (CheckContext) and what it says (Verdict)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from core.text.normalize import NormalizedText


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
    # Where and when: history checks compare against earlier comments of the same site.
    # All None for a comment that is not stored (the Akismet-compatible oracle).
    site_id: int | None = None
    comment_id: int | None = None
    submitted_at: dt.datetime | None = None
    email_index: bytes | None = None
    thread_key: str | None = None

    @cached_property
    def text(self) -> NormalizedText:
        """The body normalised once for every text check (NFKC, confusables, leetspeak...),
        with offsets that map back to the original body for spans."""
        from core.text.normalize import normalize  # imported here: base stays import-light

        return normalize(self.body)


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
    # Earlier comments for flood, rate, duplicate and trust checks (core.history.HistoryView):
    # the database in the worker, an in-memory record in the backtest. None: no history.
    history: Any = None
    # The classifiers in effect for this site (core.classify.registry.ClassifierSet).
    classifiers: Any = None


class Check(Protocol):
    """A pure check: no database writes; returns None when it has no opinion."""

    name: ClassVar[str]

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None: ...
