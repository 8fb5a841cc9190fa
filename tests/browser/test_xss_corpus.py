"""F5: an XSS corpus after OWASP's XSS Filter Evasion Cheat Sheet (tests/support/xss_payloads.py)
rendered by the public widget and the moderator UI in headless Chromium without executing.

Every payload is submitted as the comment and, where the API accepts it as a name, as the
name too; the website field gets valid http(s) URLs that try to break out of `href`, and
javascript:/data:/vbscript: values that must be refused (422). Submissions go
server-to-server as JSON (no Origin, no form token), as a site's backend would post them.

The demo site is pre-moderated, so the worker holds every comment. Two threads get the
whole corpus: in `approved` every comment is approved through the moderation API (bulk),
in `held` they stay held. Each payload's hook number says where it ran if it ever does:

    thread `approved`: comment n, name 1000 + n, website 2000 + n
    thread `held`:     comment 3000 + n, name 4000 + n, website 5000 + n

Every page is watched: no dialog, no uncaught error, no Content-Security-Policy violation
(what a `report-uri` would receive), no request a payload would make (`src=x`), and
`window.__xss` undefined in every frame. The rendered text of every comment is compared
with what was submitted, exactly (`textContent`, not Playwright's whitespace-normalising
`to_have_text`); the API must return the submitted values byte for byte.

Two differences between the submitted text and a page's `textContent` are the browser's,
not ours, and are applied to the expectation: the HTML parser drops U+0000 from text in
server-rendered pages, and the widget turns line breaks into `<br>` (no text).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Error, Page, Request, expect

from tests.support.devstack_proc import (
    DevStackProcess,
    free_port,
    http_request,
    run_cli,
)
from tests.support.xss_payloads import BAD_WEBSITES, PAYLOADS, TRICKY_WEBSITES, Payload, render

pytestmark = pytest.mark.browser

SITE = "demo"
API = f"/api/v1/sites/{SITE}"
MODERATOR = "xss-moderator@example.com"
PASSWORD = "a long enough moderator password"
HOOK_BASES = {"approved": 0, "held": 3000}  # + 0 comment, + 1000 name, + 2000 website
COMMENT_PAGES = 6  # moderator comment pages opened per thread


# -- the article on another origin (no CSP: an injected script would run) --------------------------
class ArticleServer(ThreadingHTTPServer):
    api_base = ""


class ArticleHandler(BaseHTTPRequestHandler):
    server: ArticleServer

    def do_GET(self) -> None:
        thread = parse_qs(urlsplit(self.path).query).get("thread", ["t"])[0]
        attrs = {
            "src": f"{self.server.api_base}/embed.js",
            "data-site": SITE,
            "data-thread": thread,
            "data-container": "#comments",
            "data-page-size": "1000",
        }
        script = " ".join(f'{k}="{escape(v)}"' for k, v in attrs.items())
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Article</title>'
            f'</head><body><h1>Article</h1><div id="comments"></div><script {script} async>'
            "</script></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


# -- what was submitted ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Submitted:
    id: int
    payload: Payload
    name: str
    comment: str
    website: str | None


@dataclass
class Corpus:
    stack: DevStackProcess
    article_origin: str
    token: str
    threads: dict[str, str]  # "approved"/"held" -> thread key
    comments: dict[str, list[Submitted]]
    refused: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


def submit_corpus(stack: DevStackProcess, thread: str, base: int) -> list[Submitted]:
    """Every payload as comment (and name); the first comments get the tricky websites."""
    made = []
    for n, payload in enumerate(PAYLOADS, start=1):
        name = f"Null byte {n}" if payload.has_control_chars else payload.render(base + 1000 + n)
        comment = payload.render(base + n)
        website: str | None = None
        if n <= len(TRICKY_WEBSITES):
            website = render(TRICKY_WEBSITES[n - 1], base + 2000 + n)
        elif n % 2 == 0:
            website = f"https://example.org/readers/{n}"
        body: dict[str, Any] = {
            "thread": thread,
            "name": name,
            "email": f"xss+{uuid.uuid4().hex}@example.com",
            "comment": comment,
        }
        if website is not None:
            body["website"] = website
        result = stack.post_json(f"{API}/comments", body)
        assert result.status == 202, (payload, result.status, result.body[:500])
        made.append(Submitted(int(result.json()["id"]), payload, name, comment, website))
    return made


def refuse_bad_input(stack: DevStackProcess, thread: str) -> list[tuple[str, int, dict[str, Any]]]:
    """javascript:/data:/vbscript: websites and a name with a NUL byte: every one a 422."""
    attempts: list[tuple[str, dict[str, str]]] = [
        ("website", {"name": "Bad website", "website": render(website, 9000 + n)})
        for n, website in enumerate(BAD_WEBSITES, start=1)
    ]
    attempts.append(("name", {"name": "<scr\x00ipt>window.__xss=9999</scr\x00ipt>"}))
    refused = []
    for n, (field_name, fields) in enumerate(attempts, start=1):
        body = {
            "thread": thread,
            "comment": f"Refused attempt {n}",
            "email": f"xss+{uuid.uuid4().hex}@example.com",
            **fields,
        }
        result = stack.post_json(f"{API}/comments", body)
        refused.append((field_name, result.status, result.json()))
    return refused


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    server = ArticleServer(("127.0.0.1", free_port()), ArticleHandler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = DevStackProcess(
        tmp_path_factory.mktemp("xss-stack"),
        env={
            "REPLYGUARD_FLOOD_SECONDS": "0",
            "REPLYGUARD_DEMO_ORIGINS": origin,
            "REPLYGUARD_SITE_CACHE_SECONDS": "0",  # the worker sees pre-moderation at once
        },
    )
    try:
        with stack:
            server.api_base = stack.base_url
            run_cli(
                stack,
                *("moderators", "create", "--site", SITE, "--role", "moderator"),
                *("--email", MODERATOR, "--password-stdin"),
                stdin=PASSWORD + "\n",
            )
            made = run_cli(stack, "tokens", "create", "--site", SITE, "--role", "admin")
            token = next(word for word in made.split() if word.startswith("rgt_"))
            # Everything comes from 127.0.0.1 within seconds: no flood limits. Pre-moderation
            # holds every comment, whatever the other checks think of the markup.
            relaxed = http_request(
                "PUT",
                stack.url(f"{API}/moderation/settings"),
                body=json.dumps(
                    {"flood_max_per_ip": 0, "flood_max_per_email": 0, "premoderation": True}
                ).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert relaxed.status == 200, relaxed.body
            tag = uuid.uuid4().hex[:8]
            threads = {kind: f"xss-{kind}-{tag}" for kind in HOOK_BASES}
            corpus = Corpus(stack, origin, token, threads, comments={})
            for kind, thread in threads.items():
                corpus.comments[kind] = submit_corpus(stack, thread, HOOK_BASES[kind])
            corpus.refused = refuse_bad_input(stack, f"xss-refused-{tag}")
            for kind in threads:
                for comment in corpus.comments[kind]:
                    status = stack.wait_decided(f"{API}/comments/{comment.id}")["status"]
                    assert status == "held", (comment.payload, status)
            approved = http_request(
                "POST",
                stack.url(f"{API}/moderation/bulk"),
                body=json.dumps(
                    {"action": "approve", "ids": [c.id for c in corpus.comments["approved"]]}
                ).encode(),
                headers=corpus.auth(),
            )
            assert approved.status == 200, approved.body
            assert approved.json()["failed"] == {}, approved.body
            yield corpus
    finally:
        server.shutdown()
        server.server_close()


# -- watching a page -------------------------------------------------------------------------------
@dataclass
class Watch:
    """Everything a running payload would leave behind, for one browser page."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)

    def dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type} on {self.page.url}: {dialog.message}")
        dialog.dismiss()

    def console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp.append(f"{self.page.url}: {message.text}")

    def error(self, exc: Error) -> None:
        self.errors.append(f"{self.page.url}: {exc}")

    def request(self, request: Request) -> None:
        path = urlsplit(request.url).path
        if path.endswith("/x"):  # the payloads' src=x
            self.probes.append(request.url)

    def hooks(self) -> list[str]:
        """`window.__xss` of every frame that has one (a payload's number)."""
        found = []
        for frame in self.page.frames:
            try:
                value = frame.evaluate("() => window.__xss")
            except Error:  # a frame that went away while we looked
                continue
            if value is not None:
                found.append(f"{frame.url or 'about:blank'}: window.__xss = {value!r}")
        return found

    def assert_clean(self, where: str) -> None:
        """Nothing ran, nothing was reported, nothing was fetched by a payload."""
        self.page.wait_for_timeout(300)  # let onerror/onload handlers of failed loads fire
        problems = [
            *self.hooks(),
            *self.dialogs,
            *(f"uncaught error {e}" for e in self.errors),
            *(f"CSP violation {c}" for c in self.csp),
            *(f"payload request {p}" for p in self.probes),
        ]
        assert not problems, f"{where}:\n" + "\n".join(problems)


@pytest.fixture
def watch(browser: Browser) -> Iterator[Watch]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    watched = Watch(page)
    page.on("dialog", watched.dialog)
    page.on("console", watched.console)
    page.on("pageerror", watched.error)
    page.on("request", watched.request)
    yield watched
    context.close()


def parsed_text(text: str) -> str:
    """`text` as the HTML parser leaves it in a text node (it drops U+0000)."""
    return text.replace("\x00", "")


def log_in(page: Page, stack: DevStackProcess) -> None:
    page.goto(stack.url("/moderation/login"))
    page.get_by_label("Email").fill(MODERATOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/moderation/[a-z]+/$"))


# -- in-page readers -------------------------------------------------------------------------------
_WIDGET_COMMENTS = """(host) => [...document.querySelector(host).shadowRoot
    .querySelectorAll("li.comment")].map((li) => {
  const author = li.querySelector(":scope > article .author");
  const body = li.querySelector(":scope > article .body");
  const reply = li.querySelector(":scope > article button.reply");
  return {
    id: Number(li.id.replace("comment-", "")),
    author: author.textContent,
    authorTag: author.tagName,
    authorChildren: author.children.length,
    href: author.getAttribute("href"),
    rel: author.getAttribute("rel"),
    body: body.textContent,
    bodyTags: [...body.querySelectorAll("*")].map((e) => e.tagName),
    replyLabel: reply && reply.getAttribute("aria-label"),
  };
})"""

_FRAGMENT_COMMENTS = """() => [...document.querySelectorAll("li.comment")].map((li) => {
  const author = li.querySelector(".author");
  const body = li.querySelector(".body");
  return {
    id: Number(li.id.replace("comment-", "")),
    author: author.textContent,
    authorChildren: author.children.length,
    href: author.getAttribute("href"),
    rel: author.getAttribute("rel"),
    body: body.textContent,
    bodyTags: [...body.querySelectorAll("*")].map((e) => e.tagName),
  };
})"""

_QUEUE_ITEMS = """() => [...document.querySelectorAll("#queue > li.item")].map((li) => {
  const name = li.querySelector(".author-name");
  const excerpt = li.querySelector(".excerpt");
  return {
    id: Number(li.dataset.id),
    name: name.textContent,
    excerpt: excerpt.textContent,
    injected: [...name.querySelectorAll("*"), ...excerpt.querySelectorAll("*")].map(
      (e) => e.tagName),
  };
})"""

_COMMENT_PAGE = """() => {
  const facts = document.querySelector("dl.facts");
  const dd = (label) => [...facts.querySelectorAll("dt")]
    .find((dt) => dt.textContent.trim() === label).nextElementSibling;
  const body = document.querySelector("#comment-body");
  return {
    name: facts.querySelector(".author-name").textContent,
    website: dd("Website").textContent,
    websiteTags: [...dd("Website").querySelectorAll("*")].map((e) => e.tagName),
    body: body.textContent,
    bodyTags: [...body.querySelectorAll("*")].map((e) => e.tagName),
  };
}"""


def by_id(comments: list[Submitted]) -> dict[int, Submitted]:
    return {c.id: c for c in comments}


def sample(comments: list[Submitted]) -> list[Submitted]:
    """The tricky websites, a null byte, a newline and a few more spread over the families."""
    picks = comments[: len(TRICKY_WEBSITES)]
    picks += [c for c in comments if c.payload.has_control_chars or "\n" in c.comment][:2]
    step = max(1, len(comments) // COMMENT_PAGES)
    picks += comments[len(TRICKY_WEBSITES) :: step]
    unique = list({c.id: c for c in picks}.values())
    return unique[: COMMENT_PAGES + 4]


# -- tests -----------------------------------------------------------------------------------------
def test_non_http_websites_and_control_characters_in_names_are_refused(corpus: Corpus) -> None:
    assert len(corpus.refused) == len(BAD_WEBSITES) + 1
    for field_name, status, body in corpus.refused:
        assert status == 422, (field_name, status, body)
        assert body["error"] == "validation_failed", body
        assert field_name in body["fields"], body


def test_the_api_returns_every_value_byte_for_byte(corpus: Corpus) -> None:
    thread = corpus.threads["approved"]
    public = corpus.stack.get_json(f"{API}/threads/{quote(thread)}/comments?limit=1000")
    listed = {c["id"]: c for c in public["comments"]}
    held = http_request(
        "GET",
        corpus.stack.url(f"{API}/moderation/queue?status=held&thread={quote(thread)}&limit=100"),
        headers=corpus.auth(),
    )
    assert held.status == 200, held.body
    assert held.json()["items"] == [], "approved comments left in the held queue"
    held = http_request(
        "GET",
        corpus.stack.url(
            f"{API}/moderation/queue?status=held&thread={quote(corpus.threads['held'])}&limit=100"
        ),
        headers=corpus.auth(),
    )
    assert held.status == 200, held.body
    moderated = {item["id"]: item for item in held.json()["items"]}

    for kind, stored in (("approved", listed), ("held", moderated)):
        submitted = corpus.comments[kind]
        assert sorted(stored) == sorted(c.id for c in submitted), kind
        for c in submitted:
            got = stored[c.id]
            for key, sent in (("author_name", c.name), ("body", c.comment), ("website", c.website)):
                assert (got[key] or "").encode() == (sent or "").encode(), (kind, key, c.payload)


def test_the_public_widget_renders_the_corpus_inert(corpus: Corpus, watch: Watch) -> None:
    page = watch.page
    submitted = by_id(corpus.comments["approved"])
    page.goto(f"{corpus.article_origin}/article?thread={quote(corpus.threads['approved'])}")
    expect(page.locator(".rg li.comment")).to_have_count(len(submitted), timeout=20_000)
    expect(page.locator(".rg h2.count")).to_have_text(f"{len(submitted)} Comments")
    watch.assert_clean("the article page with the widget")

    rendered = page.evaluate(_WIDGET_COMMENTS, "#comments")
    assert sorted(r["id"] for r in rendered) == sorted(submitted)
    links = 0
    for r in rendered:
        c = submitted[r["id"]]
        assert r["author"] == c.name, c.payload
        assert r["authorChildren"] == 0, c.payload
        assert r["replyLabel"] == f"Reply to {c.name}", c.payload
        assert r["body"] == c.comment.replace("\n", ""), c.payload  # line breaks are <br>
        assert set(r["bodyTags"]) <= {"P", "BR"}, (c.payload, r["bodyTags"])
        if c.website is None:
            assert r["authorTag"] == "SPAN" and r["href"] is None, c.payload
            continue
        links += 1
        assert r["authorTag"] == "A", c.payload
        assert r["href"] == c.website, c.payload
        assert re.match(r"^https?://", r["href"], re.IGNORECASE), r["href"]
        assert set(r["rel"].split()) >= {"nofollow", "ugc"}, r["rel"]
    assert links >= len(TRICKY_WEBSITES)
    # The hrefs that try to break out stay one attribute of one link.
    for c in corpus.comments["approved"][: len(TRICKY_WEBSITES)]:
        link = page.locator(f".rg #comment-{c.id} > article a.author")
        expect(link).to_have_attribute("href", c.website or "")
        assert link.evaluate("a => a.getAttributeNames()") == ["class", "href", "rel"]
    watch.assert_clean("the article page after reading it")


def test_the_server_rendered_thread_renders_the_corpus_inert(corpus: Corpus, watch: Watch) -> None:
    page = watch.page
    submitted = by_id(corpus.comments["approved"])
    thread = quote(corpus.threads["approved"])
    page.goto(corpus.stack.url(f"{API}/threads/{thread}/comments.html?limit=1000"))
    expect(page.locator("li.comment")).to_have_count(len(submitted))
    watch.assert_clean("the thread's HTML fragment")
    for r in page.evaluate(_FRAGMENT_COMMENTS):
        c = submitted[r["id"]]
        assert r["author"] == parsed_text(c.name), c.payload
        assert r["authorChildren"] == 0, c.payload
        # comment_html: one <p> per paragraph, "<br>\n" per line break, all escaped.
        assert r["body"] == parsed_text(c.comment), c.payload
        assert set(r["bodyTags"]) <= {"P", "BR"}, (c.payload, r["bodyTags"])
        assert r["href"] == c.website, c.payload
        if c.website is not None:
            assert set(r["rel"].split()) >= {"nofollow", "ugc"}, r["rel"]


def test_the_moderator_ui_renders_the_corpus_inert(corpus: Corpus, watch: Watch) -> None:
    page = watch.page
    log_in(page, corpus.stack)
    for status in ("held", "approved"):
        submitted = by_id(corpus.comments[status])
        thread = quote(corpus.threads[status])
        url: str | None = corpus.stack.url(f"/moderation/{SITE}/?status={status}&thread={thread}")
        seen: list[int] = []
        while url is not None:
            page.goto(url)
            expect(page.locator("#queue > li.item").first).to_be_visible()
            watch.assert_clean(f"the {status} queue ({page.url})")
            for item in page.evaluate(_QUEUE_ITEMS):
                c = submitted[item["id"]]
                assert item["name"] == parsed_text(c.name), (status, c.payload)
                assert item["excerpt"] == parsed_text(c.comment), (status, c.payload)
                assert item["injected"] == [], (status, c.payload, item["injected"])
                seen.append(item["id"])
            more = page.locator("p.pager a[rel=next]")
            url = more.get_attribute("href") if more.count() else None
            if url is not None and "://" not in url:
                url = corpus.stack.url(url)
        assert sorted(seen) == sorted(submitted), f"the {status} queue missed comments"

        for c in sample(corpus.comments[status]):
            page.goto(corpus.stack.url(f"/moderation/{SITE}/comments/{c.id}"))
            expect(page.locator("#comment-body")).to_be_visible()
            watch.assert_clean(f"comment page #{c.id} ({c.payload})")
            shown = page.evaluate(_COMMENT_PAGE)
            assert shown["name"] == parsed_text(c.name), c.payload
            assert shown["body"] == parsed_text(c.comment), c.payload
            assert shown["bodyTags"] == [], (c.payload, shown["bodyTags"])
            assert shown["website"] == (c.website or "—"), c.payload
            assert shown["websiteTags"] == [], c.payload
