"""ContactHandles ("contacts"): a comment asking readers to get in touch off-site.

The shape of scam spam ("contact Dr. X on WhatsApp +1 555 ... he recovered my bitcoin"):

* a messenger (WhatsApp, Telegram, Signal, WeChat, Viber, Kik, Snapchat) named within
  60 characters of a phone number or an @handle;
* a messenger link: t.me/..., wa.me/..., telegram.me/..., chat.whatsapp.com/...,
  api.whatsapp.com/send?phone=..., wa.link/...;
* a phone number right after a contact word ("call", "text", "contact", ...);
* an email address after a contact word ("email him at ..."), or any spelled-out one
  ("name [at] gmail [dot] com"): nobody dodges filters by accident.

Verdict: held ("asks readers to contact +1 555 123 4567 on WhatsApp"), or spam when the
comment also uses scam vocabulary (crypto or funds recovery, hackers, investment, forex or
binary options, loans, spell casters, "testimony", "I was scammed"). Messenger names and
scam words are matched on the normalised text, so leetspeak and look-alike letters do not
hide them ("Wh4tsАpp", "b1tcoin"); numbers, handles and addresses are read from the
original body. Spans point at the contact details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Final

from core.checks.base import Action, CheckContext, CommentFacts, Verdict
from core.text.pii import Found, find_emails, find_phones

_MESSENGERS: Final = {
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "signal": "Signal",
    "wechat": "WeChat",
    "viber": "Viber",
    "kik": "Kik",
    "snapchat": "Snapchat",
}
# On the normalised text (lower case, leet decoded): "whats app", "whatsap", "telegr4m".
_MESSENGER_RE: Final = re.compile(
    r"\b(?:(?P<whatsapp>wh?ats?\W{0,2}ap?pp?|whatsapp)|(?P<telegram>tele\W?gram|telegarm)"
    r"|(?P<signal>signal)|(?P<wechat>we\W?chat)|(?P<viber>viber)|(?P<kik>kik)"
    r"|(?P<snapchat>snap\W?chat))\b"
)
_MESSENGER_LINK_RE: Final = re.compile(
    r"(?<![\w.-])(?:https?://)?(?:www\.)?"
    r"(?:(?P<telegram>t\.me|telegram\.(?:me|dog))/[\w+]{3,}"
    r"|(?P<whatsapp>wa\.me/\+?\d{6,}|wa\.link/\w+|chat\.whatsapp\.com/\w+"
    r"|api\.whatsapp\.com/send\?phone=\+?\d{6,}))",
    re.IGNORECASE,
)
_HANDLE_RE: Final = re.compile(r"(?<![\w@.])@[A-Za-z][\w.]{2,31}(?<!\.)\b")
_CONTACT_WORD_RE: Final = re.compile(
    r"\b(?:call|text|txt|contact|reach|dial|phone|mobile|cell|sms|message|msg|email|"
    r"e-mail|mail|write|inbox|dm|whatsapp|hotline)\b[^\n]{0,40}$",
    re.IGNORECASE,
)
SCAM_RE: Final = re.compile(
    r"\b(?:bitcoins?|btc|crypto(?:currency|currencies)?|usdt|ethereum|binary\s+options?|"
    r"forex|investments?|invest(?:ed|ing|or|ors)?|trading\s+(?:platform|account|expert)|"
    r"broker|profits?|mining|"
    r"recover(?:y|ed|ing)?\s+(?:of\s+)?(?:my|your|his|her|their|the|all|lost|stolen)?\s*"
    r"(?:funds|money|assets|wallet|coins|crypto|bitcoin|account)|"
    r"funds?\s+recovery|recovery\s+(?:expert|agent|hacker|specialist|company)|"
    r"hack(?:er|ers|ed|ing)?|spell\s*casters?|love\s+spell|ex\s+back|testimon(?:y|ies)|"
    r"testify|(?:i\s+was|got|been)\s+scammed|scam(?:med|mer|mers)?|loans?|lender|"
    r"credit\s+(?:repair|score)|sugar\s+(?:daddy|mummy|mommy)|lottery|jackpot)\b"
)
_NEAR: Final = 60


@dataclass(frozen=True)
class _Contact:
    span: tuple[int, int]
    detail: str
    channel: str | None  # "WhatsApp", ... or None


def _after_contact_word(body: str, start: int) -> bool:
    return _CONTACT_WORD_RE.search(body, max(0, start - 45), start) is not None


def find_contacts(comment: CommentFacts) -> list[_Contact]:
    """The contact details the comment asks readers to use (module docstring)."""
    body = comment.body
    contacts: list[_Contact] = []
    for match in _MESSENGER_LINK_RE.finditer(body):
        app = "Telegram" if match.group("telegram") else "WhatsApp"
        contacts.append(_Contact(match.span(), match.group(), app))
    phones = find_phones(body)
    handles = [Found(m.span(), m.group(), "handle") for m in _HANDLE_RE.finditer(body)]
    details = sorted(phones + handles, key=lambda f: f.span)
    taken = [c.span for c in contacts]

    def free(span: tuple[int, int]) -> bool:
        return not any(span[0] < end and start < span[1] for start, end in taken)

    if details:
        normal = comment.text
        mentions = [  # (original span, channel name)
            (normal.original_span(*m.span()), _MESSENGERS[m.lastgroup or ""])
            for m in _MESSENGER_RE.finditer(normal.text)
        ]
        for detail in details:
            if not free(detail.span):
                continue
            channel: str | None = None
            for (start, end), name in mentions:
                if detail.span[0] - _NEAR <= end and start <= detail.span[1] + _NEAR:
                    channel = name
                    break
            if channel is None and (
                detail.kind != "phone" or not _after_contact_word(body, detail.span[0])
            ):
                continue
            contacts.append(_Contact(detail.span, detail.text, channel))
            taken.append(detail.span)
    for email in find_emails(body):
        if not free(email.span):
            continue
        if email.kind == "spelled email" or _after_contact_word(body, email.span[0]):
            contacts.append(_Contact(email.span, email.text, None))
            taken.append(email.span)
    contacts.sort(key=lambda c: c.span)
    return contacts


def _describe(contact: _Contact) -> str:
    detail = " ".join(contact.detail.split())
    if len(detail) > 40:
        detail = detail[:39] + "…"
    return f"{detail} on {contact.channel}" if contact.channel else detail


@dataclass(frozen=True)
class ContactHandles:
    """Phone numbers, messenger handles and emails offered to readers: held, or spam
    with scam vocabulary."""

    name: ClassVar[str] = "contacts"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        contacts = find_contacts(comment)
        if not contacts:
            return None
        described = list(dict.fromkeys(_describe(c) for c in contacts))
        more = f" (and {len(described) - 2} more)" if len(described) > 2 else ""
        asks = f"asks readers to contact {' and '.join(described[:2])}{more}"
        spans = tuple(c.span for c in contacts)
        scam = [m.group() for m in SCAM_RE.finditer(comment.text.text)]
        if scam:
            words = ", ".join(f'"{w}"' for w in list(dict.fromkeys(scam))[:3])
            return Verdict(Action.SPAM, f"{asks}, with scam talk ({words})", 0.95, spans)
        return Verdict.hold(asks, 0.6, spans)
