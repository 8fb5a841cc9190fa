"""Link count: WordPress holds a comment with `comment_max_links` (default 2) links or more."""

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
        if limit <= 0:
            return None
        found = len(LINK_RE.findall(comment.body))
        if found >= limit:
            return Verdict.hold(f"{found} links in the comment (the site holds {limit} or more)")
        return None
