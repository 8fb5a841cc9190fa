"""Links: how many (MaxLinks) and where they go (LinkReputation).

MaxLinks is WordPress's `comment_max_links` (default 2): a comment with that many links or
more is held. It counts `<a href=` anchors, `http(s)://` URLs and `www.` hosts, plus links
written to dodge that count (`example[dot]com`, `hxxp://`, `example . com`). A bare
`example.com` is not counted, as in WordPress. An author a moderator trusts may post
links freely.

LinkReputation ("links") looks at every host in the body (URLs, `www.` hosts, bare
domains with a common top-level domain, and dodged spellings) and at the author's
website field:

* a host on the site's `blocked_domains` list, or a subdomain of one -> spam;
* a look-alike host: letters from another script made to pass for Latin ones
  ("pаypal.com" with a Cyrillic "а"), or letters of several scripts in one label -> spam;
* a punycode host (`xn--`) that decodes to a look-alike -> spam; other punycode (a genuine
  internationalised name nobody types by hand) -> held;
* a URL shortener (bit.ly, tinyurl.com, ... `SHORTENERS`) -> held: the reader cannot see where
  it goes;
* a link written to dodge link filters -> held.

Hosts on the site's `allowed_domains` list are never flagged. For a trusted author only
the spam findings stand. Spans point at each finding in the original body.

False positives matter more than catches here: "e.g.", "U.S.", "Mr. Smith", "3.5 percent"
and "Node.js" are not links. Dodged spellings need a top-level domain from the short
`DODGE_TLDS` list, and the plain-words form ("example dot com") needs a path, a "www",
two "dot"s or a first label that is not a common word ("the dot com bubble").
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar, Final
from urllib.parse import urlsplit

from core.checks.base import Action, CheckContext, CommentFacts, Verdict
from core.text.confusables import CONFUSABLES, scripts, skeleton

# The shapes WordPress counts (`<a href=` anchors), plus bare URLs, which is what
# link-stuffing spam actually sends to a plain-text form. One link is counted once: the
# URL of an anchor and the "www." of "http://www." are part of the same match.
LINK_RE = re.compile(
    r"<a\s[^>]*href\s*=\s*[\"']?(?:https?://)?(?:www\.)?"
    r"|\bhttps?://(?:www\.)?"
    r"|(?<![/\w.-])www\.[a-z0-9-]+\.",
    re.IGNORECASE,
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Not t.co: Twitter wraps every link posted there in it and nobody can make one
# elsewhere, so in a comment it is a pasted tweet, not a disguise.
SHORTENERS: Final = frozenset(
    _words(
        """
    bit.ly bitly.com bit.do j.mp tinyurl.com goo.gl g.co ow.ly is.gd v.gd buff.ly
    cutt.ly rebrand.ly shorturl.at tiny.cc tiny.one rb.gy t.ly s.id shorte.st adf.ly
    bc.vc ouo.io lnkd.in db.tt qr.net 1url.com tr.im cli.gs short.io shorturl.com
    soo.gd clck.ru u.to x.co lc.chat t2m.io bl.ink rotf.lol snip.ly po.st mcaf.ee
    su.pr yourls.org kutt.it shrtco.de 9qr.de tinu.be urlz.fr sh.st linktr.ee
    linkin.bio lnk.bio han.gl me2.do vk.cc clk.sh zpr.io qr.ae ity.im chilp.it
    """
    )
)

# Top-level domains recognised on bare hosts ("example.com" without http:// or www.).
# Short country codes that are also common words or abbreviations (in, it, is, me, to,
# at, us, uk, no, so, ...) are left out so "U.K." or "done.It" are not hosts.
BARE_TLDS: Final = frozenset(
    _words(
        """
    com net org info biz edu gov io co ai app dev xyz top online site website club shop
    store live link click win vip pro tech space fun icu buzz news blog cloud life
    world today email agency digital media network services solutions ru su cn de fr nl
    eu ca au jp kr br ua pl es pt ch se ly tk ml ga cf gq pw cc ws tv gg ng ph pk bd
    """
    )
) | {"co.uk", "org.uk", "com.au", "com.br", "co.in", "co.za", "co.jp"}

# The stricter list for dodged spellings ("example[dot]com", "example . com").
DODGE_TLDS: Final = frozenset(
    _words(
        """
    com net org info biz io co xyz top online site club shop store live app ru cn de
    uk fr tk ml ga cf gq pw cc ws su ly
    """
    )
)

# First labels of the plain-words form that are ordinary English, not a host.
_WORDS_NOT_HOSTS: Final = frozenset(
    _words(
        """
    a an the this that these those my your his her its our their any every some no
    one big old new early late first last whole entire of in on at for with by from
    to as or and but era age boom bubble
    """
    )
)

_LABEL = r"[^\W_](?:[\w-]{0,62}[^\W_])?"
_TLD_ALT = "|".join(sorted((re.escape(t) for t in BARE_TLDS), key=len, reverse=True))
_DODGE_ALT = "|".join(sorted(DODGE_TLDS, key=len, reverse=True))

# http://host, with the dodged spellings hxxp, h**p, "http : //", "http[:]//".
_PATH = r"(?P<path>[/?#][^\s<>\"'\[\]{}|\\^`]*)?"
_SCHEME_RE: Final = re.compile(
    r"\b(h(?:tt|xx|\*\*)ps?)(\s*(?::|\[:\]|\(:\))\s*//)"
    r"([^\s/?#<>\"'()\[\]{}|\\^`]+)" + _PATH,
    re.IGNORECASE,
)
_WWW_RE: Final = re.compile(rf"(?<![\w.@/-])www\.((?:{_LABEL}\.)+{_LABEL}){_PATH}", re.IGNORECASE)
_BARE_RE: Final = re.compile(
    rf"(?<![\w.@/-])((?:{_LABEL}\.)+(?:{_TLD_ALT}))(?![\w-]|\.[^\W_]){_PATH}", re.IGNORECASE
)
# A dot written as "[dot]", "(.)", "{dot}", " dot ", " . " (a space before the dot) or ".".
_SEP = r"(?:\s*[\[({<]\s*(?:dot|\.)\s*[\])}>]\s*|\s+dot\s+|\s+\.\s*|\.)"
_DODGE_RE: Final = re.compile(
    rf"(?<![\w.@-])(?:w\s*w\s*w{_SEP})?((?:[a-z0-9][a-z0-9-]*{_SEP})+(?:{_DODGE_ALT}))"
    rf"(?![\w-])(\s*/\w+)?",
    re.IGNORECASE,
)
_DOT_LETTER_RE: Final = re.compile(r"\.[^\W\d_]")
_PLAIN_DOT_RE: Final = re.compile(r"\s+dot\s+", re.IGNORECASE)
_ANY_SEP_RE: Final = re.compile(_SEP, re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """One host found in a comment."""

    host: str  # case-folded, look-alike letters kept, dodges undone ("example.com")
    span: tuple[int, int]  # in the original body
    written: str  # as the body wrote it
    dodged: bool = False  # written to get past link filters
    written_host: str = ""  # the host part as the body wrote it (look-alike letters)


@lru_cache(maxsize=4096)
def _view_char(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    if len(folded) != 1:
        return ch
    folded = CONFUSABLES.get(folded, folded)
    lowered = folded.lower()
    return lowered if len(lowered) == 1 else folded


def _link_view(body: str) -> str:
    """The body, one character for one: fullwidth and look-alike letters as ASCII,
    lower case. Same length as the body, so spans carry over."""
    if body.isascii():
        return body.lower()
    return "".join(_view_char(ch) for ch in body)


def _trimmed(match: re.Match[str]) -> tuple[int, int]:
    """The match's span without trailing sentence punctuation after a path."""
    start, end = match.span()
    if match.group("path"):
        floor = match.start("path") + 1
        while end > floor and match.string[end - 1] in ".,;:!?)'\"":
            end -= 1
    return start, end


def shown(text: str, limit: int = 60) -> str:
    """`text` shortened for a reason."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _overlaps(span: tuple[int, int], taken: Sequence[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def _plain_words_is_a_host(match: re.Match[str]) -> bool:
    """ "example dot com" is a dodge; "the dot com bubble" is prose."""
    if match.group(2) or re.match(r"w\s*w\s*w", match.group(0), re.IGNORECASE):
        return True  # a path or a www: nobody writes that in prose
    if len(_PLAIN_DOT_RE.findall(match.group(1))) >= 2:
        return True
    first = _ANY_SEP_RE.split(match.group(1), maxsplit=1)[0].lower()
    return first not in _WORDS_NOT_HOSTS and len(first) >= 3


def find_links(body: str) -> list[Link]:
    """Every host in the body, in order: URLs, www. hosts, bare domains, dodges."""
    view = _link_view(body)
    links: list[Link] = []
    taken: list[tuple[int, int]] = []
    has_scheme = "//" in view
    has_dot_letter = _DOT_LETTER_RE.search(view) is not None
    if not has_scheme and not has_dot_letter and not _might_dodge(view):
        return links
    for match in _SCHEME_RE.finditer(view) if has_scheme else ():
        host_span = match.span(3)
        host = view[host_span[0] : host_span[1]].rsplit("@", 1)[-1].split(":", 1)[0]
        scheme = match.group(1)
        dodged = not scheme.startswith("http") or match.group(2).strip() != "://"
        span = _trimmed(match)
        written_host = body[match.start(3) : match.end(3)]
        links.append(Link(host.rstrip("."), span, body[span[0] : span[1]], dodged, written_host))
        taken.append(span)
    for regex in (_WWW_RE, _BARE_RE) if has_dot_letter else ():
        for match in regex.finditer(view):
            if _overlaps(match.span(), taken):
                continue
            host = match.group(1)
            if regex is _BARE_RE and len(host.split(".", 1)[0]) < 2 and host not in SHORTENERS:
                continue  # "U.S", "e.g": one letter is not a host
            span = _trimmed(match)
            written_host = body[match.start(1) : match.end(1)]
            links.append(Link(host, span, body[span[0] : span[1]], False, written_host))
            taken.append(span)
    for match in _DODGE_RE.finditer(view) if _might_dodge(view) else ():
        if _overlaps(match.span(), taken):
            continue
        hostish = match.group(1)
        separators = _ANY_SEP_RE.findall(hostish)
        if all(sep == "." for sep in separators):
            continue  # a plain host: the bare-domain pass had its chance
        if all(sep == "." or _PLAIN_DOT_RE.fullmatch(sep) for sep in separators) and (
            not _plain_words_is_a_host(match)
        ):
            continue
        host = _ANY_SEP_RE.sub(".", hostish).lower()
        end = match.end()
        written_host = body[match.start(1) : match.end(1)]
        links.append(
            Link(host, (match.start(), end), body[match.start() : end], True, written_host)
        )
        taken.append(match.span())
    links.sort(key=lambda link: link.span)
    return links


def dodged_link_spans(body: str) -> list[tuple[int, int]]:
    """Spans of links written to get past link filters (for MaxLinks)."""
    if not _might_dodge(body):
        return []
    return [link.span for link in find_links(body) if link.dodged]


_DODGE_HINTS: Final = (
    "dot", " .", "\t.", "\n.", "(.)", "[.]", "{.}", "<.>", "hxxp", "h**p", "http ", "http[",
    "http(", "https ", "https[", "https(",
)  # fmt: skip


def _might_dodge(body: str) -> bool:
    """A cheap test: could `_DODGE_RE` or a dodged scheme match at all?"""
    lowered = body.lower()
    return any(hint in lowered for hint in _DODGE_HINTS)


@dataclass(frozen=True)
class MaxLinks:
    """Hold link-stuffed comments for a human; the commonest spam shape."""

    name: ClassVar[str] = "max_links"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        limit = int(ctx.policy.get("max_links", 2))
        # A moderator trusted this author: their links are not held (other checks still run).
        if limit <= 0 or ctx.author_standing == "trust":
            return None
        spans = [m.span() for m in LINK_RE.finditer(comment.body)]
        dodged = [s for s in dodged_link_spans(comment.body) if not _overlaps(s, spans)]
        spans = sorted(spans + dodged)
        if len(spans) >= limit:
            how = f", {len(dodged)} written to dodge link filters" if dodged else ""
            return Verdict.hold(
                f"{len(spans)} links in the comment{how} (the site holds {limit} or more)",
                spans=tuple(spans),
            )
        return None


# --- reputation -------------------------------------------------------------------------


def _domain_list(value: object) -> tuple[str, ...]:
    if not value:
        return ()
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        return ()
    out = []
    for item in items:
        domain = str(item).strip().lower().rstrip(".")
        domain = domain.split("://", 1)[-1].split("/", 1)[0]
        domain = domain.removeprefix("*.").removeprefix("www.")
        if domain:
            out.append(domain)
    return tuple(out)


def _under(host: str, domains: Iterable[str]) -> str | None:
    """The listed domain `host` is, or is a subdomain of."""
    for domain in domains:
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def _decode_punycode(host: str) -> str | None:
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                labels.append(codecs.decode(label[4:].encode("ascii"), "punycode"))
            except (UnicodeError, ValueError):
                return None
        else:
            labels.append(label)
    return ".".join(labels)


@dataclass(frozen=True)
class _Finding:
    action: Action
    score: float
    reason: str
    span: tuple[int, int] | None


def _lookalike(written_host: str) -> str | None:
    """Why a host written with non-ASCII letters looks like a trap, or None."""
    host = unicodedata.normalize("NFKC", written_host).lower()
    if host.isascii():
        if written_host.isascii():
            return None
        return f"written in fullwidth or styled letters to pass for {host}"
    for label in host.split("."):
        found = scripts(label)
        if len(found) > 1:
            names = " and ".join(sorted(s.title() for s in found))
            return f"mixes {names} letters in one name"
    ascii_twin = skeleton(host)
    if ascii_twin != host and ascii_twin.isascii():
        return f"uses look-alike letters to pass for {ascii_twin}"
    return None


def _judge_host(
    host: str, written: str, written_host: str, blocked: Sequence[str], where: str
) -> tuple[Action, float, str] | None:
    """The verdict on one host (already case-folded, dodges undone); `written` is the
    link as the body wrote it, `written_host` its host part."""
    plain = host.removeprefix("www.")
    decoded = _decode_punycode(plain) if "xn--" in plain else None
    for candidate in (plain, skeleton(plain), decoded, skeleton(decoded or "")):
        if candidate and (domain := _under(candidate, blocked)):
            return Action.SPAM, 1.0, f"{where} {shown(written)} is on the blocked domain {domain}"
    if "xn--" in plain:
        if decoded is None:
            return Action.SPAM, 0.9, f"{where} {shown(written)} is a malformed punycode name"
        why = _lookalike(decoded)
        if why:
            return (
                Action.SPAM,
                0.95,
                f"{where} {shown(written)} is punycode for {decoded}, which {why}",
            )
        return Action.HOLD, 0.6, f"{where} {shown(written)} is written in punycode ({decoded})"
    why = _lookalike(written_host) if not written_host.isascii() else None
    if why:
        return Action.SPAM, 0.95, f"{where} {shown(written)} {why}"
    if plain in SHORTENERS:
        return Action.HOLD, 0.6, f"shortened link {shown(written)} hides where it goes"
    return None


def _body_findings(body: str, blocked: Sequence[str], allowed: Sequence[str]) -> list[_Finding]:
    findings = []
    for link in find_links(body):
        if _under(link.host.removeprefix("www."), allowed):
            continue
        judged = _judge_host(link.host, link.written.strip(), link.written_host, blocked, "link")
        if judged is not None:
            action, score, reason = judged
            findings.append(_Finding(action, score, reason, link.span))
        elif link.dodged:
            findings.append(
                _Finding(
                    Action.HOLD,
                    0.7,
                    f"link {shown(link.written.strip())} is written to dodge link filters",
                    link.span,
                )
            )
    return findings


def _website_host(website: str) -> str | None:
    text = website.strip()
    if not text:
        return None
    if "//" not in text:
        text = "http://" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


@dataclass(frozen=True)
class LinkReputation:
    """Where the links go: blocked, look-alike and punycode hosts (spam), shorteners and
    dodged spellings (held). See the module docstring."""

    name: ClassVar[str] = "links"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        blocked = _domain_list(ctx.policy.get("blocked_domains"))
        allowed = _domain_list(ctx.policy.get("allowed_domains"))
        findings = _body_findings(comment.body, blocked, allowed)
        if comment.website:
            host = _website_host(comment.website)
            if host and not _under(host.removeprefix("www."), allowed):
                judged = _judge_host(_link_view(host), host, host, blocked, "the author's website")
                if judged is not None:
                    action, score, reason = judged
                    if reason.startswith("shortened link"):
                        reason = f"the author's website {host} is a shortened link"
                    findings.append(_Finding(action, score, reason, None))
        if ctx.author_standing == "trust":
            findings = [f for f in findings if f.action is Action.SPAM]
        if not findings:
            return None
        worst = max(f.action.severity for f in findings)
        decisive = [f for f in findings if f.action.severity == worst]
        reasons = list(dict.fromkeys(f.reason for f in decisive))
        more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
        spans = tuple(sorted({f.span for f in findings if f.span is not None}))
        return Verdict(
            decisive[0].action,
            "; ".join(reasons[:3]) + more,
            max(f.score for f in decisive),
            spans,
        )
