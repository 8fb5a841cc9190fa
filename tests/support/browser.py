"""Headless Chromium for page tests: the launch settings, a log of every response a page
received (to prove an email never comes back), a commenter with a unique email, and a walk
of the whole DOM, shadow roots included.

Playwright cannot download its own browser here; it drives Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error, Page, Response

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEXTUAL = re.compile(r"^(text/|application/(json|javascript|xml|xhtml\+xml|atom\+xml))")
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
BODY_GONE = "No resource with given identifier found"


@dataclass
class SeenResponse:
    """One response as the browser received it (body only for textual, non-redirect ones)."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes | None
    error: str | None = None
    discarded: bool = False  # the browser dropped the body when the page navigated away


@dataclass
class ResponseLog:
    """Every response a page received, with the bodies read as they arrived (except those
    the browser had already discarded because the page navigated away: `discarded`)."""

    seen: list[SeenResponse] = field(default_factory=list)

    def record(self, response: Response) -> None:
        headers = response.headers
        body: bytes | None = None
        error: str | None = None
        discarded = False
        if not 300 <= response.status < 400 and TEXTUAL.match(headers.get("content-type", "")):
            try:
                body = response.body()
            except Error as exc:
                # Chromium keeps a response body only while its document is shown. With the
                # sync API this handler runs during the test's next Playwright call, so a
                # response that arrived just before a reload or goto is read after it, and
                # Network.getResponseBody answers this (microsoft/playwright#3617). Its URL
                # and headers are still checked; any other unread body fails the check below.
                if BODY_GONE in exc.message:
                    discarded = True
                else:
                    error = str(exc)
        self.seen.append(
            SeenResponse(response.url, response.status, headers, body, error, discarded)
        )

    def assert_never_contains(self, *secrets: str) -> None:
        assert self.seen, "no responses were recorded"
        problems = [f"{r.url}: body not readable ({r.error})" for r in self.seen if r.error]
        for response in self.seen:
            blobs = [
                response.url.encode(),
                *(f"{k}: {v}".encode() for k, v in response.headers.items()),
            ]
            if response.body is not None:
                blobs.append(response.body)
            for secret in secrets:
                if any(secret.encode() in blob for blob in blobs):
                    problems.append(f"{response.url} ({response.status}) contains {secret!r}")
        assert not problems, "\n".join(problems)


@dataclass(frozen=True)
class Commenter:
    """A reader with a unique email; `token` is the unique part, found in any encoding."""

    name: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def email(self) -> str:
        return f"reader+{self.token}@example.com"


_FIND_IN_DOM = """(needle) => {
  const hits = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE || node.nodeType === Node.COMMENT_NODE) {
      if (node.data.includes(needle)) hits.push("text in " + node.parentNode.nodeName);
      return;
    }
    if (node.attributes) {
      for (const a of node.attributes) {
        if (a.value.includes(needle)) hits.push(node.nodeName + " @" + a.name);
      }
    }
    if (typeof node.value === "string" && node.value.includes(needle)) {
      hits.push(node.nodeName + "#" + node.id + " value");
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document);
  return hits;
}"""


def find_in_dom(page: Page, needle: str) -> list[str]:
    """Where `needle` occurs in the page: text, attributes and form values, shadow roots too."""
    hits: list[str] = page.evaluate(_FIND_IN_DOM, needle)
    return hits
