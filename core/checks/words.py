"""Per-site word lists, as WordPress's "Disallowed Comment Keys" and "Comment Moderation".

Each entry is matched case-insensitively as a substring of the content, author name,
email, website and user agent, and against the IP: an entry that is a full IP address
matches through the IP's blind index (we never store the address), and any entry matches
as a prefix of the stored truncated IP (e.g. `203.0.113.`).

Entries that contain a letter are also matched against the *normalised* comment and
author name (core.text.normalize: look-alike letters, accents, invisible characters,
leetspeak and elongations undone), with letters inside the entry maskable by `*#_.`
("f**k"). Those matches are still substrings, as in WordPress: an entry "ass" also
matches "class" (sites that want whole words should list words unlikely to occur inside
others). When a match only appears after normalisation the reason quotes how the comment
wrote it: `disallowed word: "casino" in the comment (written "с4sino")`. Spans always
point into the original body.

The entries are the site's policy keys `disallowed_words` (a match is spam) and
`moderation_words` (held); both default to an empty list.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from core.checks.base import Action, CheckContext, CommentFacts, Verdict
from core.text.normalize import (
    NormalizedText,
    normalize,
    span_in_original,
    word_pattern,
    word_regex,
)


@lru_cache(maxsize=4096)
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


@lru_cache(maxsize=4096)
def _normalisable(entry: str) -> bool:
    """Entries worth matching on normalised text: those with a letter (not IPs, numbers)."""
    return any(ch.isalpha() for ch in entry)


@lru_cache(maxsize=256)
def _any_entry_regex(entries: tuple[str, ...]) -> re.Pattern[str] | None:
    """One alternation of every normalisable entry: a quick "nothing to see" test."""
    patterns = [f"(?:{word_pattern(e)})" for e in entries if _normalisable(e)]
    patterns = [p for p in patterns if p != "(?:)"]
    return re.compile("|".join(patterns)) if patterns else None


def normalized_spans(entry: str, text: NormalizedText) -> tuple[tuple[int, int], ...]:
    """Where `entry` occurs in the normalised text (either variant), as original spans."""
    if not word_pattern(entry):
        return ()
    regex = word_regex(entry)
    spans: set[tuple[int, int]] = set()
    for variant, offsets in text.variants():
        for match in regex.finditer(variant):
            start, end = match.span()
            spans.add(span_in_original(offsets, len(text.original), start, end))
    return tuple(sorted(spans))


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
    stripped = tuple(e for e in (raw.strip() for raw in entries) if e)
    # Normalised views, only when some entry could match there at all.
    normalised: dict[str, NormalizedText] = {}
    quick = _any_entry_regex(stripped) if stripped else None
    if quick is not None:
        for field_name, text in (
            ("comment", comment.text),
            ("name", normalize(comment.author_name)),
        ):
            if any(quick.search(variant) for variant, _ in text.variants()):
                normalised[field_name] = text
    for entry in stripped:
        needle = entry.casefold()
        for field_name, haystack in lowered.items():
            if needle in haystack:
                spans = _spans_in(comment.body, needle) if field_name == "comment" else ()
                return f'"{entry}" in the {field_name}', spans
        if _normalisable(entry):
            for field_name, text in normalised.items():
                spans = normalized_spans(entry, text)
                if spans:
                    written = text.original[spans[0][0] : spans[0][1]]
                    where = spans if field_name == "comment" else ()
                    return f'"{entry}" in the {field_name} (written "{written}")', where
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
