"""Phone numbers and email addresses in free text, with spans into the text.

Shared by the contacts check (scam spam asking readers to get in touch) and the personal
data check (doxxing). Both run these on the *original* body: normalisation would turn the
digits of a number into letters.

`find_phones(text)` accepts, with 7-15 digits:

* international numbers: `+44 20 7946 0958`, `+1 (555) 123-4567`, `0049 30 1234567`;
* North-American numbers: `(555) 123-4567`, `555-123-4567`, `555.123.4567`,
  `1-555-123-4567`, and a dashed local `555-1234`;
* European national numbers, which start with the trunk prefix 0: `06 12 34 56 78`,
  `030 1234567`, `0171-1234567`, `07912345678` (9-12 digits);
* any run of 7-15 digits right after a phone word ("call", "tel", "WhatsApp", ...).

and rejects what only looks like one: prices (`$1 234 567`), percentages, dates
(`2024-01-05`, `01.05.2023`), year ranges (`2014-2015`), IP addresses, decimals, numbers
with thousands separators (`1 000 000`, `123 456 789`) and bare digit runs without a
phone word (populations, ids).

`find_emails(text)` finds `name@example.com` and the spelled-out forms spammers use to
dodge filters: `name [at] example [dot] com`, `name (at) gmail.com`, and
`name at gmail dot com` (plain "at" only with a well-known mail provider or a spelled
"dot", so "look at google.com" is not an address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_CANDIDATE_RE: Final = re.compile(
    r"""
    (?<![\w+$€£¥.,/:-])
    (?:
        (?P<intl>(?:\+|\b00)\s?\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{1,4}){1,5})
      | (?P<paren>(?:1[\s.-]?)?\(\d{2,5}\)[\s.-]?\d{2,4}(?:[\s.-]?\d{2,4}){1,3})
      | (?P<groups>\d{1,5}(?:[\s.-]\d{2,8}){1,5})
      | (?P<run>\d{7,15})
    )
    (?![\w%$€£]|[.,:/]\d)
    """,
    re.VERBOSE,
)
_PHONE_WORD_RE: Final = re.compile(
    r"(?:call|phone|tel|telephone|mobile|cell|whats\s?app|text|sms|number|contact|dial|"
    r"ring|reach|viber|telegram|signal|wechat|hotline|fax)\b[^\d\n]{0,20}$",
    re.IGNORECASE,
)
_SEPARATOR_RE: Final = re.compile(r"[\s.()-]+")
_YEAR_RE: Final = re.compile(r"(?:19|20)\d\d")


@dataclass(frozen=True)
class Found:
    """One finding: where it is and what it says."""

    span: tuple[int, int]
    text: str
    kind: str  # "phone", "email", "spelled email"


def _groups_look_like_a_phone(groups: list[str], separators: set[str], digits: str) -> bool:
    sizes = [len(g) for g in groups]
    if all(_YEAR_RE.fullmatch(g) for g in groups if len(g) == 4) and 4 in sizes[:1]:
        return False  # 2014-2015, 2024-01-05, 1990 2000
    if len(groups) == 3 and sizes[2] in (2, 4) and sizes[0] <= 2 and sizes[1] <= 2:
        return False  # 01.05.2023, 5-1-24
    if sizes[0] <= 3 and all(s == 3 for s in sizes[1:]) and not digits.startswith("0"):
        return False  # 1 000 000, 123 456 789, 12.500.000
    north_american = sizes in ([3, 3, 4], [1, 3, 3, 4]) and digits[-10] in "23456789"
    if north_american:
        return True
    if sizes == [3, 4] and separators == {"-"} and digits[0] in "23456789":
        return True  # 555-1234
    return digits.startswith("0") and 9 <= len(digits) <= 12


def find_phones(text: str) -> list[Found]:
    """Phone numbers in `text` (see the module docstring)."""
    found: list[Found] = []
    for match in _CANDIDATE_RE.finditer(text):
        raw = match.group()
        digits = "".join(ch for ch in raw if ch.isdigit())
        if not 7 <= len(digits) <= 15:
            continue
        kind = match.lastgroup
        if kind == "intl":
            ok = len(digits) >= 8
        elif kind == "paren":
            ok = len(digits) >= 10
        elif kind == "groups":
            groups = [g for g in _SEPARATOR_RE.split(raw) if g]
            separators = {s.strip() or " " for s in _SEPARATOR_RE.findall(raw)}
            ok = _groups_look_like_a_phone(groups, separators, digits)
            if not ok and _PHONE_WORD_RE.search(text, max(0, match.start() - 30), match.start()):
                ok = len(groups) <= 4 and not _YEAR_RE.fullmatch(groups[0])
        else:
            ok = (digits.startswith("0") and 10 <= len(digits) <= 11) or bool(
                _PHONE_WORD_RE.search(text, max(0, match.start() - 30), match.start())
            )
        if ok:
            found.append(Found(match.span(), raw, "phone"))
    return found


_EMAIL_RE: Final = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*"
    r"\.[a-z]{2,24}(?![\w-])",
    re.IGNORECASE,
)
_MAIL_PROVIDERS: Final = (
    "gmail|googlemail|yahoo|ymail|hotmail|outlook|live|msn|aol|icloud|me|mac|"
    "protonmail|proton|gmx|yandex|mail|zoho|inbox|qq|163|126"
)
_SPELLED_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s*[\[({<]\s*@\s*[\])}>]\s*)"
_SPELLED_DOT = r"(?:\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*|\s+dot\s+)"
_SPELLED_EMAIL_RE: Final = re.compile(
    rf"(?<![\w.+-])[\w.+-]{{2,64}}(?:"
    # name [at] example.com / name [at] example [dot] com
    rf"{_SPELLED_AT}[\w-]+(?:(?:{_SPELLED_DOT}|\.)[\w-]+)*(?:{_SPELLED_DOT}|\.)[a-z]{{2,6}}"
    # name at gmail.com / name at gmail dot com
    rf"|\s+at\s+(?:{_MAIL_PROVIDERS})(?:{_SPELLED_DOT}|\s*\.\s*)[a-z]{{2,6}}"
    # name at example dot com
    rf"|\s+at\s+[\w-]+{_SPELLED_DOT}[a-z]{{2,6}}"
    rf")(?![\w-])",
    re.IGNORECASE,
)


# A cheap test: could _SPELLED_EMAIL_RE match at all?
_SPELLED_HINT_RE: Final = re.compile(
    rf"[\[({{<]\s*(?:at|@)\s*[\])}}>]|\sat\s+(?:{_MAIL_PROVIDERS})\b|\sdot\s", re.IGNORECASE
)


def find_emails(text: str) -> list[Found]:
    """Email addresses in `text`, plain or spelled out (see the module docstring)."""
    found: list[Found] = []
    if "@" in text:
        found.extend(Found(m.span(), m.group(), "email") for m in _EMAIL_RE.finditer(text))
    if _SPELLED_HINT_RE.search(text):
        for match in _SPELLED_EMAIL_RE.finditer(text):
            if not any(f.span[0] < match.end() and match.start() < f.span[1] for f in found):
                found.append(Found(match.span(), match.group(), "spelled email"))
    found.sort(key=lambda f: f.span)
    return found
