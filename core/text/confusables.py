"""Look-alike letters and the "skeleton" spammers try to hide behind.

`CONFUSABLES` maps single characters from other scripts (Cyrillic, Greek, Armenian,
Cherokee, Latin small capitals and stroked letters) to the ASCII letter they are made to
pass for, in the spirit of Unicode TR39's confusables (a compact hand-written subset: the
letters actually used to spoof words and host names, not the whole table). Fullwidth
forms, mathematical alphanumerics, ligatures and accented letters are *not* listed: NFKD
already reduces them (see core.text.normalize).

Both cases are listed because the mapping is applied before case folding: Greek capital
Mu (Μ) spoofs "M" while small mu (μ) spoofs "u".

`skeleton(s)` maps a string through the table; `scripts(s)` names the scripts of its
letters (used to spot mixed-script host names such as Latin "p" + Cyrillic "а").
"""

from __future__ import annotations

import unicodedata
from types import MappingProxyType
from typing import Final

_PAIRS: Final = {
    # Cyrillic capitals
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O",
    "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y", "Ӏ": "I", "Ь": "b", "Ꙇ": "I",
    # Cyrillic small letters
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y", "ь": "b", "ɡ": "g", "ѵ": "v",
    "ԍ": "g", "ꙇ": "i",
    # Greek capitals
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    # Greek small letters
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u",
    "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j",
    "ω": "w",
    # Armenian
    "ա": "w", "զ": "q", "հ": "h", "ո": "n", "ս": "u", "ց": "g", "օ": "o", "ք": "p",
    "Օ": "O", "Ս": "U",
    # Cherokee capitals that copy Latin ones
    "Ꭺ": "A", "Ᏼ": "B", "Ꮯ": "C", "Ꭰ": "D", "Ꭼ": "E", "Ꮐ": "G", "Ꮋ": "H", "Ꭻ": "J",
    "Ꮶ": "K", "Ꮮ": "L", "Ꮇ": "M", "Ꮲ": "P", "Ꮪ": "S", "Ꭲ": "T", "Ꮩ": "V", "Ꮃ": "W",
    "Ꮓ": "Z",
    # Latin letters that do not decompose: small capitals, dotless, stroked, IPA
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɩ": "i", "ǀ": "l", "ø": "o", "Ø": "O", "đ": "d",
    "Đ": "D", "ħ": "h", "ł": "l", "Ł": "L", "ŧ": "t", "ƀ": "b", "ɵ": "o", "ȿ": "s",
}  # fmt: skip

CONFUSABLES: Final = MappingProxyType(_PAIRS)

# Scripts whose letters we name; anything else is reported by its first name word.
_SCRIPT_WORDS: Final = frozenset(
    {"LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "HEBREW", "ARABIC"}
)


def skeleton(text: str) -> str:
    """`text` with every listed look-alike replaced by the ASCII letter it imitates."""
    if text.isascii():
        return text
    return "".join(CONFUSABLES.get(ch, ch) for ch in text)


def script_of(ch: str) -> str | None:
    """The script of one letter ("LATIN", "CYRILLIC", ...), None for digits and marks."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else None
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    if first in _SCRIPT_WORDS:
        return first
    if first in {"MODIFIER", "SMALL", "MATHEMATICAL", "FULLWIDTH"}:
        return "LATIN" if "LATIN" in name or "CAPITAL" in name else first
    return first or None


def scripts(text: str) -> frozenset[str]:
    """The scripts of the letters in `text`."""
    found = {script_of(ch) for ch in text}
    found.discard(None)
    return frozenset(s for s in found if s is not None)
