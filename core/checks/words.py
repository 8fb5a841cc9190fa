"""Per-site word lists, as WordPress's "Disallowed Comment Keys" and "Comment Moderation".

Each entry is matched case-insensitively as a substring of the content, author name,
email, website and user agent, and against the IP: an entry that is a full IP address
matches through the IP's blind index (we never store the address), and any entry matches
as a prefix of the stored truncated IP (e.g. `203.0.113.`).
"""

from __future__ import annotations

import bisect
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


def _spans_in(body: str, needle: str) -> tuple[tuple[int, int], ...]:
    """Every occurrence of `needle` (already case-folded) in the body, as offsets into it.

    Offsets are found on a per-character fold so they stay valid in the original text
    (case-folding can change a string's length, e.g. "ß" → "ss")."""
    folded_chars = [ch.casefold() for ch in body]
    starts = []  # starts[i]: where body[i]'s folded form begins in the folded text
    position = 0
    for ch in folded_chars:
        starts.append(position)
        position += len(ch)
    folded = "".join(folded_chars)
    spans = []
    at = folded.find(needle)
    while at != -1:
        end_at = at + len(needle)
        first = bisect.bisect_right(starts, at) - 1
        last = bisect.bisect_left(starts, end_at) - 1
        spans.append((first, last + 1))
        at = folded.find(needle, end_at)
    return tuple(spans)


def find_match(
    entries: list[str], comment: CommentFacts, ctx: CheckContext
) -> tuple[str, tuple[tuple[int, int], ...]] | None:
    """The first matching entry's description and, when it is in the comment text, where."""
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
                spans = _spans_in(comment.body, needle) if field_name == "comment" else ()
                return f'"{entry}" in the {field_name}', spans
        if _is_ip(entry) and comment.ip_index is not None and ctx.ip_index_of is not None:
            if ctx.ip_index_of(entry) == comment.ip_index:
                return f'"{entry}" is the IP address', ()
        elif comment.ip_truncated and comment.ip_truncated.startswith(entry):
            return f'"{entry}" matches the IP address', ()
    return None


@dataclass(frozen=True)
class _WordList:
    policy_key: ClassVar[str]
    action: ClassVar[Action]
    label: ClassVar[str]

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        found = find_match(list(ctx.policy.get(self.policy_key, [])), comment, ctx)
        if found is None:
            return None
        description, spans = found
        return Verdict(self.action, f"{self.label}: {description}", spans=spans)


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
