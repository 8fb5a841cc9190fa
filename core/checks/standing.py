"""Decisions moderators made ahead of time: a banned author, and pre-moderation.

Both come from the context (moderate() looks them up), so the checks stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.checks.base import Action, CheckContext, CommentFacts, Verdict


@dataclass(frozen=True)
class AuthorBanned:
    """A moderator banned this author (by email or IP prefix): spam."""

    name: ClassVar[str] = "author_banned"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        if ctx.author_standing != "ban":
            return None
        why = f": {ctx.author_standing_reason}" if ctx.author_standing_reason else ""
        return Verdict(Action.SPAM, f"the author is banned on this site{why}")


@dataclass(frozen=True)
class PreModeration:
    """The site or thread is pre-moderated: every comment waits for a human."""

    name: ClassVar[str] = "premoderation"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        if not ctx.premoderated:
            return None
        return Verdict.hold("pre-moderation is on: every comment is reviewed by a moderator")
