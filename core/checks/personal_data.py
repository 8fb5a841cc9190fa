"""PersonalData ("personal_data"): a comment that publishes someone's contact details.

A doxxing signal, held for a human: phone numbers, street addresses and email addresses
in the body (core.text.pii for phones and emails; see there for what is and is not taken
for a phone number). Publishing one's own number is also held: the moderator decides.

Street addresses: a house number, one to three capitalised name words and a street
suffix (Street/St, Avenue/Ave, Road/Rd, Boulevard/Blvd, Lane/Ln, Drive/Dr, Court/Ct,
Way, Place/Pl, Terrace, Crescent, Highway/Hwy, Parkway/Pkwy), optionally followed by an
apartment or suite ("42 Elm Ave Apt 5", "123 Main Street"). Institutions that share the
shape ("9 Supreme Court justices") are skipped.

The verdict is a hold with every finding's span; the score grows with the number of kinds
found (0.6 for one, up to 0.9), since a phone next to an address is a stronger signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Final

from core.checks.base import CheckContext, CommentFacts, Verdict
from core.text.pii import Found, find_emails, find_phones

_SUFFIXES = (
    r"Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|"
    r"Place|Pl|Terrace|Ter|Crescent|Cres|Highway|Hwy|Parkway|Pkwy"
)
_ADDRESS_RE: Final = re.compile(
    rf"(?<![\w$€£.,-])(?P<number>\d{{1,5}}[A-Za-z]?)\s+"
    rf"(?P<name>(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
    rf"(?:[A-Z][a-z]+|\d{{1,3}}(?:st|nd|rd|th))(?:\s+[A-Z][a-z]+){{0,2}})\s+"
    rf"(?P<suffix>{_SUFFIXES})\b\.?"
    rf"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*#?\w{{1,5}}\b)?"
)
# Name words that make "<number> <name> Court/Way/Place" an institution or a phrase.
_NOT_STREETS: Final = frozenset(
    {
        "Supreme",
        "High",
        "District",
        "Appeals",
        "Appellate",
        "Federal",
        "Circuit",
        "Superior",
        "County",
        "Family",
        "Juvenile",
        "Tax",
        "State",
        "Different",
        "Other",
        "Same",
        "Best",
        "First",
        "Last",
        "Second",
        "Third",
        "Only",
    }
)
_KIND_LABELS: Final = {
    "phone": "a phone number",
    "email": "an email address",
    "spelled email": "an email address",
    "address": "a street address",
}


def find_addresses(text: str) -> list[Found]:
    """Street addresses in `text` (module docstring)."""
    if not any(ch.isdigit() for ch in text):
        return []
    found = []
    for match in _ADDRESS_RE.finditer(text):
        words = match.group("name").split()
        if any(word in _NOT_STREETS for word in words):
            continue
        found.append(Found(match.span(), match.group(), "address"))
    return found


@dataclass(frozen=True)
class PersonalData:
    """Phone numbers, street addresses and emails in the body: held for a human."""

    name: ClassVar[str] = "personal_data"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        body = comment.body
        if not any(ch.isdigit() for ch in body) and "@" not in body and " at " not in body:
            return None
        findings = find_phones(body) + find_addresses(body) + find_emails(body)
        if not findings:
            return None
        findings.sort(key=lambda f: f.span)
        kinds = list(dict.fromkeys(_KIND_LABELS[f.kind] for f in findings))
        examples = []
        for label in kinds:
            first = next(f for f in findings if _KIND_LABELS[f.kind] == label)
            text = " ".join(first.text.split())
            examples.append(f"{label}: {text if len(text) <= 40 else text[:39] + '…'}")
        reason = "the comment contains what looks like " + "; and ".join(examples)
        score = min(0.9, 0.6 + 0.15 * (len(kinds) - 1))
        return Verdict.hold(reason, score, tuple(f.span for f in findings))
