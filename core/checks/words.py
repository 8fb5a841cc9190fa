"""Per-site word lists, as WordPress's "Disallowed Comment Keys" and "Comment Moderation".

Each entry is matched case-insensitively as a substring of the content, author name,
email, website and user agent, and against the IP: an entry that is a full IP address
matches through the IP's blind index (we never store the address), and any entry matches
as a prefix of the stored truncated IP (e.g. `203.0.113.`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar

from core.checks.base import Action, CheckContext, CommentFacts, Verdict


def _is_ip(entry: str) -> bool:
    try:
        ipaddress.ip_address(entry)
    except ValueError:
        return False
    return True


def find_match(entries: list[str], comment: CommentFacts, ctx: CheckContext) -> str | None:
    """The first matching entry, described as `"word" in field`, or None."""
    fields = {
        "comment": comment.body,
        "name": comment.author_name,
        "email": comment.email,
        "website": comment.website or "",
        "user agent": comment.user_agent or "",
    }
    lowered = {name: value.casefold() for name, value in fields.items()}
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        needle = entry.casefold()
        for field_name, haystack in lowered.items():
            if needle in haystack:
                return f'"{entry}" in the {field_name}'
        if _is_ip(entry) and comment.ip_index is not None and ctx.ip_index_of is not None:
            if ctx.ip_index_of(entry) == comment.ip_index:
                return f'"{entry}" is the IP address'
        elif comment.ip_truncated and comment.ip_truncated.startswith(entry):
            return f'"{entry}" matches the IP address'
    return None


@dataclass(frozen=True)
class _WordList:
    policy_key: ClassVar[str]
    action: ClassVar[Action]
    label: ClassVar[str]

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        match = find_match(list(ctx.policy.get(self.policy_key, [])), comment, ctx)
        if match is None:
            return None
        return Verdict(self.action, f"{self.label}: {match}")


@dataclass(frozen=True)
class DisallowedWords(_WordList):
    """Entries the site never wants: a match is spam."""

    name: ClassVar[str] = "disallowed_words"
    policy_key: ClassVar[str] = "disallowed_words"
    action: ClassVar[Action] = Action.SPAM
    label: ClassVar[str] = "disallowed word"


@dataclass(frozen=True)
class ModerationWords(_WordList):
    """Entries a human should look at: a match is held."""

    name: ClassVar[str] = "moderation_words"
    policy_key: ClassVar[str] = "moderation_words"
    action: ClassVar[Action] = Action.HOLD
    label: ClassVar[str] = "moderation word"
