"""Normalise comment text once for every text check.

Contract: `normalize(body)` returns a `NormalizedText` whose `text` is the comparable
form of the body and whose `offsets[i]` is the index in the original body of the
character `text[i]` came from, so a match in `text` maps back to a span of the original
body (`original_span`) for the moderator UI to highlight. `offsets` is non-decreasing,
`len(offsets) == len(text)`, and `normalize(n.text).text == n.text` (idempotent).

`text` is a *skeleton* for comparison with other `normalize()` output (word-list
entries go through the same function), not something to show anyone. Per character of
the body, in this order:

1. compatibility decomposition (NFKD: fullwidth, mathematical alphanumerics, ligatures,
   superscripts and circled letters become plain letters; "ﬁ" becomes "fi" and both
   letters point at the ligature);
2. accents and other combining diacritics (U+0300-036F and the other diacritic blocks)
   are dropped, as are variation selectors, zero-width characters (U+200B-200D,
   U+2060, U+FEFF, U+00AD soft hyphen, U+180E) and bidi controls (U+200E/F,
   U+202A-202E, U+2066-2069, U+061C);
3. look-alike letters from other scripts become the Latin letter they imitate
   (core.text.confusables: Cyrillic "а" -> "a", Greek "Ο" -> "o", ...);
4. case folding (`str.casefold`).

Steps 1-4 are repeated until the character no longer changes, and cached per character.
NFKD is used rather than NFKC so that accents can be dropped; the text therefore stays
decomposed (Hangul as jamo, for instance), which is harmless because both sides of every
comparison are normalised alike.

Then, on the whole text:

5. leetspeak is decoded (0->o 1->i 3->e 4->a 5->s 7->t @->a $->s !->i |->l), one
   character for one, so offsets are unchanged. Only inside tokens (runs of word
   characters and @$!|) that contain a letter: "2024", "$5", "10 people" are untouched;
   a number followed by a short unit or ordinal ("10am", "1st", "4k", "1080p") is
   untouched too; @ $ ! | count only *between* a token's letters and digits, so
   "hello!", "@ann" and "wow!!!" keep their punctuation ("sh!t" -> "shit").
6. elongations are shortened: a run of 3 or more identical letters becomes 2
   ("fuuuuck" -> "fuuck", "sooooo" -> "soo"). Two, because English never doubles a
   letter more than that, so entries with a real double letter ("ass", "boobs") still
   match; the positions of the shortened runs are kept in `elongated` so a matcher can
   also try the run as a single letter (`variants()`: "fuuck" -> "fuck").

ASCII bodies (most comments) take a fast path: lower-casing is steps 1-4 for ASCII, and
when no leetspeak or elongation applies the offsets are the identity.

Masked words: `word_pattern(entry)` builds a regex in which each letter strictly inside
the entry may instead be written as a run of 1-3 mask characters (`*`, `#`, `_`, `.`),
so "fuck" matches "f*ck", "f**k" and "f***k" and "shit" matches "s#it" (first and last
letters must be present: "f***" is too vague to act on).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Final

from core.text.confusables import CONFUSABLES

# Invisible characters removed outright: zero-width, soft hyphen, Mongolian vowel
# separator, invisible operators, and bidi controls (embeddings, overrides, isolates).
INVISIBLE: Final = frozenset(
    "\u00ad\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"
)
# Combining diacritics (the blocks used for accents and "zalgo" text) and variation
# selectors: dropped so that "cásino" and "c̸a̸s̸i̸n̸o̸" compare as "casino".
_DROPPED_RANGES: Final = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
)

LEET: Final = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
LEET_SYMBOLS: Final = {"@": "a", "$": "s", "!": "i", "|": "l"}
_LEET_TABLE: Final = str.maketrans({**LEET, **LEET_SYMBOLS})
_SYMBOLS: Final = "".join(LEET_SYMBOLS)
_TOKEN_PUNCT: Final = "_" + _SYMBOLS
# "10am", "1st", "4k", "1080p", "3.5mm": a number with a unit or ordinal, not leetspeak.
_NUMBER_WITH_UNIT_RE: Final = re.compile(
    r"\d+(?:st|nd|rd|th|s|am|pm|k|m|b|p|x|d|h|g|gb|mb|tb|kb|kg|km|cm|mm|ml|mph|hz|ghz|v|w)"
)
# Any run of 3+ identical characters; only letters are shortened. (A plain "." is much
# faster to scan for than a letter class, and runs are rare.)
_TRIPLE_RE: Final = re.compile(r"(.)\1\1", re.DOTALL)
_RUN_RE: Final = re.compile(r"(.)\1{2,}", re.DOTALL)
_LEET_CHAR_RE: Final = re.compile(r"[013457@$!|]")
_TOKEN_TAIL_RE: Final = re.compile(r"[\w@$!|]*")

MASK_CHARS: Final = "*#_."

_CACHE_LIMIT: Final = 50_000
_CHAR_MAP: dict[str, str] = {chr(code): chr(code).lower() for code in range(128)}


def _dropped(ch: str) -> bool:
    if ch in INVISIBLE:
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _DROPPED_RANGES)


def _one_pass(s: str) -> str:
    out = []
    for ch in unicodedata.normalize("NFKD", s):
        if _dropped(ch):
            continue
        out.append(CONFUSABLES.get(ch, ch).casefold())
    return unicodedata.normalize("NFKD", "".join(out))


def fold_char(ch: str) -> str:
    """Steps 1-4 for one character (cached): its comparable form, possibly empty."""
    cached = _CHAR_MAP.get(ch)
    if cached is not None:
        return cached
    s = ch
    for _ in range(8):  # a fixed point is reached in one or two rounds in practice
        folded = _one_pass(s)
        if folded == s:
            break
        s = folded
    if len(_CHAR_MAP) < _CACHE_LIMIT:
        _CHAR_MAP[ch] = s
    return s


def _decode_token(token: str) -> str:
    """Leetspeak decoding of one token (see the module docstring, step 5)."""
    if token.isdigit():
        return token
    start = len(token) - len(token.lstrip(_SYMBOLS))
    end = len(token.rstrip(_SYMBOLS))
    inner = token[start:end]
    decoded = inner.translate(_LEET_TABLE)
    if (
        decoded == inner
        or not any(ch.isalpha() for ch in inner)
        or _NUMBER_WITH_UNIT_RE.fullmatch(inner)
    ):
        return token
    return token[:start] + decoded + token[end:]


def _decode_leet(text: str) -> str:
    """Step 5: find each leet character, widen it to its token (word characters and
    leet symbols), decode the token. Linear, and cheap when there is nothing to do."""
    match = _LEET_CHAR_RE.search(text)
    if match is None:
        return text
    parts: list[str] = []
    last = 0
    while match is not None:
        start = match.start()
        while start and (text[start - 1].isalnum() or text[start - 1] in _TOKEN_PUNCT):
            start -= 1
        token_end = _TOKEN_TAIL_RE.match(text, match.start())
        end = token_end.end() if token_end is not None else match.end()
        token = text[start:end]
        decoded = _decode_token(token)
        if decoded != token:
            parts.append(text[last:start])
            parts.append(decoded)
            last = end
        match = _LEET_CHAR_RE.search(text, end)
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


@dataclass(frozen=True)
class NormalizedText:
    """The original body, its normalised form and the map between them."""

    original: str
    text: str
    offsets: tuple[int, ...]
    # Positions i in `text` where text[i:i+2] is a run of 3+ letters shortened to two.
    elongated: tuple[int, ...] = ()

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original body that `text[start:end]` came from."""
        return span_in_original(self.offsets, len(self.original), start, end)

    def variants(self) -> Iterator[tuple[str, tuple[int, ...]]]:
        """`(text, offsets)`, then, if some run was shortened, the same text with those
        runs as a single letter ("fuuck" -> "fuck") and its own offsets."""
        yield self.text, self.offsets
        if self.elongated:
            drop = {i + 1 for i in self.elongated}
            keep = [i for i in range(len(self.text)) if i not in drop]
            yield "".join(self.text[i] for i in keep), tuple(self.offsets[i] for i in keep)

    def written(self, start: int, end: int) -> str:
        """How the body wrote what `text[start:end]` says (for reasons)."""
        first, last = self.original_span(start, end)
        return self.original[first:last]


def span_in_original(
    offsets: tuple[int, ...], original_length: int, start: int, end: int
) -> tuple[int, int]:
    """Map `[start, end)` of a normalised text to the original body.

    The span ends where the next kept character begins, so characters dropped after the
    last one (the rest of a shortened run, a zero-width joiner) are covered; when the
    match ends inside a character that expanded to several ("ﬁ"), it covers that
    character."""
    if start >= end:
        at = offsets[start] if start < len(offsets) else original_length
        return (at, at)
    first = offsets[start]
    last = offsets[end - 1] + 1
    last = max(last, offsets[end]) if end < len(offsets) else original_length
    return (first, last)


def _shorten_runs(
    text: str, offsets: tuple[int, ...] | None
) -> tuple[str, tuple[int, ...] | None, tuple[int, ...]]:
    """Step 6. `offsets` None means identity (the ASCII fast path)."""
    first = _TRIPLE_RE.search(text)
    if first is None:
        return text, offsets, ()
    runs = [m for m in _RUN_RE.finditer(text, first.start()) if m.group(1).isalpha()]
    if not runs:
        return text, offsets, ()
    source = offsets if offsets is not None else range(len(text))
    parts: list[str] = []
    new_offsets: list[int] = []
    elongated: list[int] = []
    last = 0
    for match in runs:
        parts.append(text[last : match.start() + 2])
        new_offsets.extend(source[last : match.start() + 2])
        elongated.append(len(new_offsets) - 2)
        last = match.end()
    parts.append(text[last:])
    new_offsets.extend(source[last:])
    return "".join(parts), tuple(new_offsets), tuple(elongated)


def normalize(body: str) -> NormalizedText:
    """The comparable form of `body` with offsets back into it (module docstring)."""
    offsets: tuple[int, ...] | None
    if body.isascii():
        text = body.lower()
        offsets = None
    else:
        pieces: list[str] = []
        index: list[int] = []
        char_map = _CHAR_MAP
        for i, ch in enumerate(body):
            out = char_map.get(ch)
            if out is None:
                out = fold_char(ch)
            if len(out) == 1:
                pieces.append(out)
                index.append(i)
            elif out:
                pieces.append(out)
                index.extend(repeat(i, len(out)))
        text = "".join(pieces)
        offsets = tuple(index)
    text = _decode_leet(text)
    text, offsets, elongated = _shorten_runs(text, offsets)
    if offsets is None:
        offsets = tuple(range(len(text)))
    return NormalizedText(body, text, offsets, elongated)


@lru_cache(maxsize=4096)
def word_pattern(word: str) -> str:
    """A regex source matching the normalised `word`, letters inside it maskable.

    `word` is normalised here, so callers may pass a raw entry ("C4sino" or "casino")."""
    normal = normalize(word.strip()).text
    if len(normal) < 3:
        return re.escape(normal)
    mask = "[" + re.escape(MASK_CHARS) + "]{1,3}"
    inner = "".join(
        f"(?:{re.escape(ch)}|{mask})" if ch.isalnum() else re.escape(ch) for ch in normal[1:-1]
    )
    return re.escape(normal[0]) + inner + re.escape(normal[-1])


@lru_cache(maxsize=4096)
def word_regex(word: str) -> re.Pattern[str]:
    """`word_pattern(word)` compiled."""
    return re.compile(word_pattern(word))
