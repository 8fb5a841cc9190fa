"""A comment's text as safe HTML: everything escaped, paragraphs and line breaks kept.

Comments are stored raw; this is the one place that turns them into markup, so no
commenter-supplied tag or attribute ever reaches a page or a webhook receiver.
"""

from __future__ import annotations

import html
import re

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def comment_html(body: str) -> str:
    """`<p>` per blank-line-separated paragraph, `<br>` per single newline, all escaped."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return ""
    paragraphs = _PARAGRAPH_BREAK.split(text)
    return "".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
