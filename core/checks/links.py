"""Link count: WordPress holds a comment with `comment_max_links` (default 2) links or more.

An author a moderator trusts may post links freely."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from core.checks.base import CheckContext, CommentFacts, Verdict

# The shapes WordPress counts (`<a href=` anchors), plus bare URLs, which is what
# link-stuffing spam actually sends to a plain-text form.
LINK_RE = re.compile(r"<a\s[^>]*href\s*=|\bhttps?://|\bwww\.[a-z0-9-]+\.", re.IGNORECASE)


@dataclass(frozen=True)
class MaxLinks:
    """Hold link-stuffed comments for a human; the commonest spam shape."""

    name: ClassVar[str] = "max_links"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        limit = int(ctx.policy.get("max_links", 2))
        # A moderator trusted this author: their links are not held (other checks still run).
        if limit <= 0 or ctx.author_standing == "trust":
            return None
        spans = tuple(m.span() for m in LINK_RE.finditer(comment.body))
        if len(spans) >= limit:
            return Verdict.hold(
                f"{len(spans)} links in the comment (the site holds {limit} or more)", spans=spans
            )
        return None
