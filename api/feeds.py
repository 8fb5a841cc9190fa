"""Atom 1.0 (RFC 4287) feed of one thread's newest approved comments.

Built with ElementTree, which escapes every text and attribute, so no commenter-supplied
text can break out of its element; the comment's HTML is `core.rendering.comment_html`
(everything escaped, paragraphs kept), carried as escaped `type="html"` content. Entries
carry the public author name and website, never an email.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any
from xml.etree import ElementTree as ET

from core.comments import ThreadInfo
from core.rendering import comment_html

ATOM_NS = "http://www.w3.org/2005/Atom"
ET.register_namespace("", ATOM_NS)


# Characters XML 1.0 cannot carry at all (a comment may contain them: they are stored raw).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: _xml(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _xml(text)
    return element


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def thread_feed(
    *,
    thread_key: str,
    info: ThreadInfo | None,
    entries: Sequence[dict[str, Any]],
    feed_url: str,
    comment_url: Callable[[int], str],
    site_name: str,
) -> bytes:
    """The feed document. `comment_url(id)` is a comment's public status URL, which is
    its entry's stable id."""
    title = info.title if info and info.title else thread_key
    page_url = info.url if info else None
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _el(feed, "id", feed_url)
    _el(feed, "title", f"Comments on “{title}”")
    _el(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    if page_url:
        _el(feed, "link", rel="alternate", type="text/html", href=page_url)
    newest = max((e["decided_at"] for e in entries), default=None)
    _el(feed, "updated", _when(newest or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    author = _el(feed, "author")
    _el(author, "name", site_name)
    _el(feed, "generator", "Replyguard")
    for entry in entries:
        item = _el(feed, "entry")
        _el(item, "id", comment_url(entry["id"]))
        _el(item, "title", f"Comment by {entry['author_name']}")
        if page_url:
            _el(
                item,
                "link",
                rel="alternate",
                type="text/html",
                href=f"{page_url.split('#', 1)[0]}#comment-{entry['id']}",
            )
        _el(item, "published", _when(entry["submitted_at"]))
        _el(item, "updated", _when(entry["decided_at"]))
        who = _el(item, "author")
        _el(who, "name", entry["author_name"])
        if entry["website"]:
            _el(who, "uri", entry["website"])
        _el(item, "content", comment_html(entry["body"]), type="html")
    document = ET.tostring(feed, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + document).encode()
