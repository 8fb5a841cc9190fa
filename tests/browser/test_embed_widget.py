"""The embed widget in a real browser, on an article served from ANOTHER origin (X1, X4, F5,
P4, P9): the page lives on a small static server on one port, Replyguard (`replyguard run`)
on another, so every read and the submission are real cross-origin requests under CORS.

The stack starts with that article origin in the demo site's allowed origins
(`REPLYGUARD_DEMO_ORIGINS`) and the flood rule off (every request comes from 127.0.0.1).
Moderation goes through the real API with a token made by `replyguard tokens create`.
The widget fetches a signed form token when it loads, so readers wait a few seconds before
posting, as people do: faster posts are held by the `form_signals` check.

The render time of 100 comments is measured inside the browser with the Performance API
(the widget's own `replyguard:render` measure) and printed, not asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    XSS,
    Commenter,
    ResponseLog,
    find_in_dom,
)
from tests.support.devstack_proc import (
    MARKER_VAR,
    DevStackProcess,
    free_port,
    http_request,
    replyguard_executable,
)
from tests.support.polling import wait_for

pytestmark = pytest.mark.browser

READING_SECONDS = 3.2  # longer than the form_signals check's 3 s minimum
SITE = "demo"
API = f"/api/v1/sites/{SITE}"


# -- the article on another origin ---------------------------------------------------------
def article_html(api_base: str, query: dict[str, list[str]]) -> str:
    """A static news article with the documented snippet (and count badges)."""
    thread = query.get("thread", ["t"])[0]
    lang = query.get("lang", ["en"])[0]
    attrs = {
        "src": f"{api_base}/embed.js",
        "data-site": SITE,
        "data-thread": thread,
        "data-thread-url": f"http://placeholder/article/{thread}",
        "data-thread-title": f"Article {thread}",
        "data-container": "#comments",
    }
    if "page_size" in query:
        attrs["data-page-size"] = query["page_size"][0]
    if query.get("counts_only"):
        del attrs["data-thread"]
    script = " ".join(f'{k}="{escape(v)}"' for k, v in attrs.items())
    badges = "".join(
        f'<li>{escape(key)}: <span class="count" data-replyguard-count="{escape(key)}"></span></li>'
        for key in query.get("badge", [])
    )
    return f"""<!doctype html>
<html lang="{escape(lang)}"><head><meta charset="utf-8"><title>Article {escape(thread)}</title>
<style>#comments {{ --rg-accent: #8a2be2; }}</style></head>
<body><h1>Article {escape(thread)}</h1><p>Some news.</p><ul>{badges}</ul>
<div id="comments"></div>
<script {script} async></script>
</body></html>"""


class ArticleServer(ThreadingHTTPServer):
    api_base = ""


class ArticleHandler(BaseHTTPRequestHandler):
    server: ArticleServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if not parts.path.startswith("/article"):
            self.send_error(404)
            return
        body = article_html(self.server.api_base, parse_qs(parts.query)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@dataclass
class Site:
    """The stack, the article origin and an admin token for the moderation API."""

    stack: DevStackProcess
    article_origin: str
    token: str

    def article(self, thread: str, **params: str | list[str]) -> str:
        query = urlencode({"thread": thread, **params}, doseq=True)
        return f"{self.article_origin}/article?{query}"

    def approve(self, comment_id: int) -> None:
        result = self.stack.post_json(
            f"{API}/moderation/comments/{comment_id}/decision",
            {"action": "approve"},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert result.status == 200, result.body

    def seed(self, thread: str, count: int, *, parent: int | None = None) -> list[int]:
        """Comments posted server-to-server (no Origin, no form token), approved by the worker."""
        made = []
        for n in range(count):
            body: dict[str, Any] = {
                "thread": thread,
                "comment": f"Seeded comment {n} in {thread} ({uuid.uuid4().hex[:6]})",
                "name": f"Seeder {n}",
                "email": f"seeder{n}@example.org",
            }
            if parent is not None:
                body["parent"] = parent
            result = self.stack.post_json(f"{API}/comments", body)
            assert result.status == 202, result.body
            made.append(result.json()["id"])
        for comment_id in made:
            assert self.stack.wait_decided(f"{API}/comments/{comment_id}")["status"] == "approved"
        return made


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = ArticleServer(("127.0.0.1", free_port()), ArticleHandler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stack = DevStackProcess(
        tmp_path_factory.mktemp("embed-stack"),
        env={"REPLYGUARD_FLOOD_SECONDS": "0", "REPLYGUARD_DEMO_ORIGINS": origin},
    )
    try:
        with stack:
            server.api_base = stack.base_url
            env = {k: v for k, v in stack.environment().items() if k != MARKER_VAR}
            made = subprocess.run(
                [
                    *(str(replyguard_executable()), "tokens", "create", "--site", SITE),
                    *("--role", "admin", "--label", "browser-tests"),
                ],
                cwd=stack.workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            token = next(line for line in made.stdout.split() if line.startswith("rgt_"))
            # The tests seed dozens of comments from 127.0.0.1 within seconds, as a site's
            # backend posting for its readers would: the flood check would rightly hold
            # them (and their near-identical seeded texts would read as copies), so this
            # site turns its per-address, per-email and duplicate rules off.
            relaxed = http_request(
                "PUT",
                stack.url(f"/api/v1/sites/{SITE}/moderation/settings"),
                body=json.dumps(
                    {"flood_max_per_ip": 0, "flood_max_per_email": 0, "duplicates_window_days": 0}
                ).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert relaxed.status == 200, relaxed.body
            yield Site(stack, origin, token)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def responses() -> ResponseLog:
    return ResponseLog()


@pytest.fixture
def page(browser: Browser, responses: ResponseLog) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    opened = context.new_page()
    opened.on("response", responses.record)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], "uncaught errors in the page"


def widget_ready(page: Page) -> None:
    expect(page.locator(".rg h2.count")).not_to_have_text(re.compile(r"^(Loading.*)?$"))


def fill(page: Page, commenter: Commenter, text: str, website: str = "") -> None:
    page.fill("#rg-comment", text)
    page.fill("#rg-author", commenter.name)
    page.fill("#rg-email", commenter.email)
    page.fill("#rg-url", website)


def thread_key() -> str:
    return f"story-{uuid.uuid4().hex[:8]}"


def origins_of(responses: ResponseLog) -> set[str]:
    return {f"{urlsplit(r.url).scheme}://{urlsplit(r.url).netloc}" for r in responses.seen}


# -- tests -------------------------------------------------------------------------------------
def test_cross_origin_reader_submits_sees_the_notice_and_later_the_comment(
    site: Site, page: Page, responses: ResponseLog, tmp_path: Path
) -> None:
    thread = thread_key()
    page.goto(site.article(thread))
    widget_ready(page)
    expect(page.locator(".rg h2.count")).to_have_text("No comments yet")
    expect(page.locator("#rg-reply-title")).to_have_text("Leave a Reply")
    expect(page.locator(".rg .notes")).to_have_text(
        "Your email address will not be published. Required fields are marked *"
    )
    for field_id, label in [
        ("rg-comment", "Comment *"),
        ("rg-author", "Name *"),
        ("rg-email", "Email *"),
        ("rg-url", "Website"),
        (
            "rg-cookies",
            "Save my name, email, and website in this browser for the next time I comment.",
        ),
    ]:
        expect(page.locator(f"label[for={field_id}]")).to_have_text(label)
    expect(page.get_by_role("button", name="Post Comment")).to_be_visible()

    reader = Commenter("Mara Riverside")
    # Two links: the worker holds it for a human.
    text = f"Sources: https://a.example/1 and https://b.example/2 ({reader.token[:8]})"
    page.wait_for_timeout(READING_SECONDS * 1000)
    fill(page, reader, text, website="mara.example.org")
    page.check("#rg-cookies")
    page.get_by_role("button", name="Post Comment").click()

    mine = page.locator(".rg li.comment.pending")
    expect(mine).to_have_count(1)
    expect(mine.locator(".awaiting")).to_have_text("Your comment is awaiting moderation.")
    expect(mine.locator(".body")).to_have_text(text)
    expect(mine.locator("a.author")).to_have_attribute("href", "http://mara.example.org")
    expect(page.locator("#rg-comment")).to_have_value("")
    comment_id = int((mine.get_attribute("id") or "").removeprefix("comment-"))
    status = site.stack.wait_decided(f"{API}/comments/{comment_id}")
    assert status["status"] == "held", status

    site.approve(comment_id)
    # The widget polls the comment's status and updates it in place...
    expect(mine.locator(".awaiting")).to_have_count(0, timeout=30_000)
    expect(page.locator(".rg h2.count")).to_have_text("1 Comment")

    # ...and after a reload it comes from the (invalidated) listing.
    page.reload()
    widget_ready(page)
    listed = page.locator(f".rg #comment-{comment_id}")
    expect(listed.locator(".body")).to_have_text(text)
    expect(listed.locator(".awaiting")).to_have_count(0)
    expect(listed.locator("a.author")).to_have_attribute("rel", "external nofollow ugc noopener")
    expect(page.locator(".rg h2.count")).to_have_text("1 Comment")
    # "Save my name..." was ticked: the form is filled in again, in this browser only.
    expect(page.locator("#rg-author")).to_have_value(reader.name)
    expect(page.locator("#rg-email")).to_have_value(reader.email)
    expect(page.locator("#rg-cookies")).to_be_checked()
    page.screenshot(path=str(tmp_path / "widget-after-approval.png"), full_page=True)

    # The email is nowhere but in the reader's own form, and in no response at all.
    assert find_in_dom(page, reader.email) == ["INPUT#rg-email value"]
    responses.assert_never_contains(reader.email, reader.token)
    # Cross-origin for real: the API answered the article's origin with exact CORS headers.
    api_answers = [r for r in responses.seen if r.url.startswith(site.stack.base_url + API)]
    assert api_answers
    for answer in api_answers:
        assert answer.headers.get("access-control-allow-origin") == site.article_origin
    # No third-party requests: only the article's origin and Replyguard's.
    assert origins_of(responses) == {site.article_origin, site.stack.base_url}


def test_unticked_save_forgets_the_reader(site: Site, page: Page) -> None:
    page.goto(site.article(thread_key()))
    widget_ready(page)
    page.evaluate(
        "key => localStorage.setItem(key, JSON.stringify({name: 'Old', email: 'old@example.org'}))",
        f"replyguard:commenter:{site.stack.base_url}",
    )
    page.reload()
    widget_ready(page)
    expect(page.locator("#rg-author")).to_have_value("Old")
    page.uncheck("#rg-cookies")
    reader = Commenter("Forgetful")
    page.wait_for_timeout(READING_SECONDS * 1000)
    fill(page, reader, f"No need to remember me ({reader.token[:8]}).")
    page.get_by_role("button", name="Post Comment").click()
    expect(page.locator(".rg li.comment.pending")).to_have_count(1)
    stored = page.evaluate(
        "key => localStorage.getItem(key)", f"replyguard:commenter:{site.stack.base_url}"
    )
    assert stored is None


def test_missing_email_shows_the_field_error_beside_the_field(
    site: Site, page: Page, responses: ResponseLog
) -> None:
    thread = thread_key()
    page.goto(site.article(thread))
    widget_ready(page)
    page.fill("#rg-comment", "I forgot something.")
    page.fill("#rg-author", "No Mail")
    page.get_by_role("button", name="Post Comment").click()
    error = page.locator("#rg-email-error")
    expect(error).to_have_text("Please enter your email address.")
    expect(page.locator("#rg-email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#rg-email")).to_have_attribute("aria-describedby", "rg-email-error")
    expect(page.locator("#rg-email")).to_be_focused()
    expect(page.locator("#rg-author-error")).to_be_hidden()

    # An address the browser-side check lets through but the server refuses: the server's
    # field error is shown inline too.
    page.fill("#rg-email", "reader@exa_mple.com")
    page.get_by_role("button", name="Post Comment").click()
    expect(error).to_contain_text("valid email address")
    expect(page.locator("#rg-email")).to_be_focused()
    expect(page.locator(".rg li.comment")).to_have_count(0)
    posts = [r for r in responses.seen if r.url.endswith(f"{API}/comments")]
    assert [r.status for r in posts] == [422]
    counts = site.stack.get_json(f"{API}/counts?thread={thread}")
    assert counts == {"counts": {thread: 0}}


def test_markup_in_a_comment_renders_inert(site: Site, page: Page, responses: ResponseLog) -> None:
    thread = thread_key()
    reader = Commenter("<b>Script</b> Kiddie")
    text = f"Nice article {XSS} ({reader.token[:8]})"
    page.goto(site.article(thread))
    widget_ready(page)
    page.wait_for_timeout(READING_SECONDS * 1000)
    fill(page, reader, text)
    page.get_by_role("button", name="Post Comment").click()
    # Found by its text: the worker may approve it (and the widget notice it) at any moment.
    mine = page.locator(".rg li.comment", has_text=reader.token[:8])
    expect(mine.locator(".body")).to_have_text(text)  # inert while pending too
    comment_id = int((mine.get_attribute("id") or "").removeprefix("comment-"))
    assert site.stack.wait_decided(f"{API}/comments/{comment_id}")["status"] == "approved"

    page.reload()
    widget_ready(page)
    body = page.locator(f".rg #comment-{comment_id} .body")
    expect(body).to_have_text(text)
    expect(page.locator(f".rg #comment-{comment_id} .author")).to_have_text("<b>Script</b> Kiddie")
    assert page.locator(".rg script, .rg img, .rg b").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not [r for r in responses.seen if urlsplit(r.url).path.endswith("/x")], (
        "the <img src=x> in the comment was loaded as markup"
    )
    responses.assert_never_contains(reader.email, reader.token)


def test_keyboard_only_reply(site: Site, page: Page) -> None:
    thread = thread_key()
    [parent] = site.seed(thread, 1)
    page.goto(site.article(thread))
    widget_ready(page)
    reply = page.get_by_role("button", name="Reply to Seeder 0")
    page.keyboard.press("Tab")  # the first focusable thing on the page
    expect(reply).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#rg-comment")).to_be_focused()
    expect(page.locator("#rg-reply-title")).to_have_text("Leave a Reply to Seeder 0")
    # The form now sits under the comment it answers.
    expect(page.locator(f".rg #comment-{parent} form")).to_have_count(1)
    page.keyboard.press("Escape")  # changed my mind: back to the Reply button
    expect(reply).to_be_focused()
    expect(page.locator("#rg-reply-title")).to_have_text("Leave a Reply")

    page.keyboard.press("Enter")
    page.wait_for_timeout(READING_SECONDS * 1000)
    page.keyboard.type("Answering with the keyboard only.")
    page.keyboard.press("Tab")
    expect(page.locator("#rg-author")).to_be_focused()
    page.keyboard.type("Key Board")
    page.keyboard.press("Tab")
    page.keyboard.type("keys@example.com")
    page.keyboard.press("Tab")
    expect(page.locator("#rg-url")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#rg-cookies")).to_be_focused()
    page.keyboard.press("Tab")  # the honeypot is out of the tab order
    expect(page.get_by_role("button", name="Post Comment")).to_be_focused()
    page.keyboard.press("Enter")

    mine = page.locator(f".rg #comment-{parent} ol.replies > li.comment")
    expect(mine).to_have_count(1)
    expect(mine).to_be_focused()  # focus follows the new comment
    expect(mine.locator(".body")).to_have_text("Answering with the keyboard only.")
    reply_id = int((mine.get_attribute("id") or "").removeprefix("comment-"))
    status = site.stack.wait_decided(f"{API}/comments/{reply_id}")
    assert status["status"] == "approved", status  # the reader took their time


def test_right_to_left_language(site: Site, page: Page) -> None:
    page.goto(site.article(thread_key(), lang="ar"))
    widget = page.locator(".rg")
    expect(widget).to_have_attribute("dir", "rtl")
    expect(widget).to_have_attribute("lang", "ar")
    expect(page.locator("#rg-reply-title")).to_have_text("اترك تعليقاً")
    expect(page.locator(".rg h2.count")).to_have_text("لا توجد تعليقات")
    expect(page.get_by_role("button", name="إرسال التعليق")).to_be_visible()
    assert page.locator("#rg-comment").evaluate("e => getComputedStyle(e).direction") == "rtl"
    page.get_by_role("button", name="إرسال التعليق").click()
    expect(page.locator("#rg-comment-error")).to_have_text("يرجى كتابة نص التعليق.")


def test_a_hundred_comments_render_fast_and_more_load_on_demand(site: Site, page: Page) -> None:
    thread = thread_key()
    roots = site.seed(thread, 50)
    for root in roots:  # one reply each: 100 comments, 50 top-level (one default page)
        site.seed(thread, 1, parent=root)
    wait_for(
        lambda: site.stack.get_json(f"{API}/counts?thread={thread}")["counts"][thread] == 100,
        timeout=60,
        what="100 approved comments",
    )
    timings = []
    for _ in range(3):
        page.goto(site.article(thread))
        expect(page.locator(".rg li.comment")).to_have_count(100)
        expect(page.locator(".rg h2.count")).to_have_text("100 Comments")
        timings.append(
            page.evaluate(
                "performance.getEntriesByName('replyguard:render', 'measure')[0].duration"
            )
        )
    print(
        f"\nwidget render of 100 comments (DOM + style + layout, Performance API): "
        f"first {timings[0]:.1f} ms, then {', '.join(f'{t:.1f}' for t in timings[1:])} ms"
    )

    page.goto(site.article(thread, page_size="20"))
    expect(page.locator(".rg ol.comments > li.comment")).to_have_count(20)
    more = page.get_by_role("button", name="Load more comments")
    more.click()
    expect(page.locator(".rg ol.comments > li.comment")).to_have_count(40)
    expect(page.locator(f".rg #comment-{roots[20]}")).to_be_focused()
    more.click()
    expect(page.locator(".rg ol.comments > li.comment")).to_have_count(50)
    expect(more).to_be_hidden()


def test_comment_counts_on_an_article_list(site: Site, page: Page) -> None:
    busy, quiet = thread_key(), thread_key()
    site.seed(busy, 2)
    page.goto(site.article("unused", counts_only="1", badge=[busy, quiet]))
    expect(page.locator(f'[data-replyguard-count="{busy}"]')).to_have_text("2 Comments")
    expect(page.locator(f'[data-replyguard-count="{quiet}"]')).to_have_text("No comments yet")
    assert page.locator(".rg").count() == 0  # no thread: counts only


def test_the_widget_upgrades_the_demo_page_under_its_strict_policy(site: Site, page: Page) -> None:
    """Our own page (CSP: scripts and styles from our origin only) runs the widget, styled."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(site.stack.url("/demo"))
    widget_ready(page)
    expect(page.locator("#commentform")).to_have_count(0)  # the no-JS form was replaced
    expect(page.locator("#rg-reply-title")).to_have_text("Leave a Reply")
    color = page.locator(".rg .submit").evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(26, 95, 180)"  # our stylesheet applies inside the shadow root
    assert violations == []


def test_theming_through_custom_properties(site: Site, page: Page) -> None:
    page.goto(site.article(thread_key()))
    widget_ready(page)
    color = page.locator(".rg .submit").evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(138, 43, 226)"  # --rg-accent: #8a2be2 set by the article page
