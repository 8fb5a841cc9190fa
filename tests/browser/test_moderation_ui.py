"""The moderators' web UI in a real browser, against a real `replyguard run` stack.

Setup goes through the product's own doors: moderators and an API token are created with
the CLI (in the stack's working directory, so on its SQLite file), the demo site is told
to hold comments containing a moderation word through the JSON API, and comments arrive
through the public API and are held by the real worker. Headless Chromium then logs in,
reads why comments were held, decides them with the keyboard and in bulk, and checks the
public thread and the audit log agree. Every page is watched for script errors and
Content-Security-Policy violations.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect

from tests.support.devstack_proc import (
    DevStackProcess,
    http_request,
    run_cli,
)

pytestmark = pytest.mark.browser

PASSWORD = "a long enough moderator password"
ADMIN = "mod@example.com"
OTHER = "other-mod@example.com"
HELD_WORD = "heldword"
REASON = f'moderation word: "{HELD_WORD}" in the comment'


@dataclass
class Stack:
    """The running stack and what the setup created in it."""

    proc: DevStackProcess
    token: str

    def url(self, path: str) -> str:
        return self.proc.url(path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    proc = DevStackProcess(
        tmp_path_factory.mktemp("moderation-ui-stack"),
        # Every comment comes from 127.0.0.1; settings changes must apply at once.
        env={"REPLYGUARD_FLOOD_SECONDS": "0", "REPLYGUARD_SITE_CACHE_SECONDS": "0"},
    )
    with proc:
        run_cli(
            proc,
            *("moderators", "create", "--site", "demo", "--role", "admin"),
            *("--email", ADMIN, "--password-stdin"),
            stdin=PASSWORD + "\n",
        )
        token = run_cli(proc, "tokens", "create", "--site", "demo", "--role", "admin").strip()
        run_cli(proc, "add-site", "other", "--name", "Other", "--origin", "http://127.0.0.1:9")
        run_cli(
            proc,
            *("moderators", "create", "--site", "other", "--role", "moderator"),
            *("--email", OTHER, "--password-stdin"),
            stdin=PASSWORD + "\n",
        )
        changed = http_request(
            "PUT",
            proc.url("/api/v1/sites/demo/moderation/settings"),
            body=json.dumps({"moderation_words": [HELD_WORD]}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert changed.status == 200, changed.body
        yield Stack(proc, token)


@dataclass
class Problems:
    """Script errors and console errors (CSP violations are reported there) while the
    page shows the moderation UI."""

    page: Page
    seen: list[str] = field(default_factory=list)

    def _ours(self) -> bool:
        return "/moderation" in self.page.url

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and self._ours():
            self.seen.append(f"console on {self.page.url}: {message.text}")

    def error(self, exc: Error) -> None:
        if self._ours():
            self.seen.append(f"page error on {self.page.url}: {exc}")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    problems = Problems(opened)
    opened.on("console", problems.console)
    opened.on("pageerror", problems.error)
    yield opened
    context.close()
    # A 404 page is expected in one test; its console line is the only acceptable error.
    real = [p for p in problems.seen if "404 (NOT FOUND)" not in p]
    assert not real, real


def submit_held(stack: Stack, author: str, n: int) -> list[int]:
    """`n` comments by `author` that the worker holds (they contain the moderation word)."""
    ids = []
    for i in range(n):
        result = stack.proc.post_json(
            "/api/v1/sites/demo/comments",
            {
                "thread": "welcome-to-replyguard",
                "name": author,
                "email": f"reader+{uuid.uuid4().hex}@example.com",
                "comment": f"Comment {i} by {author}: the council has to explain the {HELD_WORD}.",
            },
        )
        assert result.status == 202, result.body
        ids.append(int(result.json()["id"]))
    for comment_id in ids:
        decided = stack.proc.wait_decided(f"/api/v1/sites/demo/comments/{comment_id}")
        assert decided["status"] == "held", decided
    return ids


def log_in(page: Page, stack: Stack, email: str = ADMIN) -> None:
    page.goto(stack.url("/moderation/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/moderation/[a-z]+/$"))


def queue_of(stack: Stack, author: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v)}" for k, v in {"author": author, **params}.items())
    return stack.url(f"/moderation/demo/?{query}")


def selected(page: Page) -> str:
    current = page.locator('#queue > li.item[aria-current="true"]')
    expect(current).to_have_count(1)
    return current.get_attribute("data-id") or ""


def test_a_held_comment_shows_why_and_is_approved_with_the_keyboard(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    author = f"Keyboard {uuid.uuid4().hex[:8]}"
    older, newer = submit_held(stack, author, 2)
    log_in(page, stack)
    expect(page.locator("h1")).to_contain_text("Moderation queue")

    page.goto(queue_of(stack, author))  # newest first
    expect(page.locator("#queue > li.item")).to_have_count(2)
    item = page.locator(f"#comment-{older}")
    expect(item.locator(".why")).to_contain_text(REASON)
    expect(item.locator(".objection")).to_have_text("moderation_words: hold")
    assert selected(page) == str(newer)
    page.keyboard.press("j")
    assert selected(page) == str(older)
    expect(item).to_be_focused()
    page.keyboard.press("k")
    assert selected(page) == str(newer)
    page.keyboard.press("j")
    page.screenshot(path=str(tmp_path / "queue.png"), full_page=True)

    page.keyboard.press("o")  # the comment page: every check and the marked word
    page.wait_for_url(re.compile(rf"/comments/{older}\?"))
    expect(page.locator("#comment-body mark")).to_have_text(HELD_WORD)
    expect(page.locator("table.checks tr.objected")).to_contain_text(REASON)
    for check in ("author_banned", "disallowed_words", "moderation_words", "max_links"):
        expect(page.locator("table.checks tbody th", has_text=check)).to_have_count(1)
    expect(page.locator(".masked-email")).to_have_text("r…@example.com")
    page.screenshot(path=str(tmp_path / "comment.png"), full_page=True)
    page.keyboard.press("u")
    page.wait_for_url(re.compile(r"/moderation/demo/\?"))

    page.keyboard.press("j")
    page.keyboard.press("a")
    page.wait_for_url(re.compile(rf"done=approve&done_id={older}"))
    expect(page.locator(".notice")).to_contain_text(f"#{older} approved.")
    expect(page.locator(f"#comment-{older}")).to_have_count(0)
    assert selected(page) == str(newer)

    page.goto(stack.url("/demo"))
    expect(page.locator(f"#comment-{older} .body")).to_contain_text(f"Comment 0 by {author}")
    expect(page.locator(f"#comment-{newer}")).to_have_count(0)


def test_ten_held_comments_are_cleared_with_the_keyboard_in_under_a_minute(
    stack: Stack, page: Page
) -> None:
    author = f"Batch {uuid.uuid4().hex[:8]}"
    ids = submit_held(stack, author, 10)
    log_in(page, stack)
    page.goto(queue_of(stack, author, order="oldest"))

    started = time.monotonic()
    for expected in ids:
        current = selected(page)
        assert current == str(expected)
        expect(page.locator(f"#comment-{current} .why")).to_contain_text(REASON)
        page.keyboard.press("a")
        page.wait_for_url(re.compile(rf"done_id={current}(&|#|$)"))
    elapsed = time.monotonic() - started
    print(f"ten keyboard decisions, each checked and reloaded: {elapsed:.1f}s")
    assert elapsed < 60, f"ten decisions took {elapsed:.1f}s"
    expect(page.locator("#queue > li.item")).to_have_count(0)
    expect(page.locator("#queue .empty")).to_be_visible()

    page.goto(stack.url("/moderation/demo/audit"))
    rows = page.locator('tr.audit-row[data-action="comment.approve"]')
    for comment_id in ids:
        row = rows.filter(has=page.locator(f'a[href$="/comments/{comment_id}"]'))
        expect(row).to_have_count(1)
        expect(row.locator(".actor")).to_have_text("mod")
    page.goto(stack.url("/demo"))
    for comment_id in ids:
        expect(page.locator(f"#comment-{comment_id}")).to_be_visible()


def test_bulk_mark_spam(stack: Stack, page: Page) -> None:
    author = f"Bulk {uuid.uuid4().hex[:8]}"
    ids = submit_held(stack, author, 3)
    log_in(page, stack)
    page.goto(queue_of(stack, author, order="oldest"))
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.get_by_label("Selected comments:").select_option("spam")
    page.get_by_role("button", name="Apply to selected").click()
    page.wait_for_url(re.compile(r"done=bulk-spam"))
    expect(page.locator(".notice")).to_contain_text("2 comments marked as spam.")
    expect(page.locator("#queue > li.item")).to_have_count(1)
    expect(page.locator(f"#comment-{ids[2]}")).to_be_visible()

    page.locator("#tab-spam").click()
    expect(page.locator("#queue > li.item")).to_have_count(2)
    for comment_id in ids[:2]:
        expect(page.locator(f"#comment-{comment_id} .badge")).to_have_text("spam")


def test_a_moderator_of_another_site_sees_nothing_of_it(stack: Stack, page: Page) -> None:
    [comment_id] = submit_held(stack, f"Private {uuid.uuid4().hex[:8]}", 1)
    log_in(page, stack, OTHER)
    assert page.url.endswith("/moderation/other/")
    for path in (f"/moderation/demo/comments/{comment_id}", "/moderation/demo/"):
        response = page.goto(stack.url(path))
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("Not found")


def test_markup_in_a_name_or_comment_renders_inert(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = "<script>window.__xss=1</script>"
    body = f'<img src=x onerror="window.__xss=2"> {HELD_WORD} {tag}'
    result = stack.proc.post_json(
        "/api/v1/sites/demo/comments",
        {
            "thread": "welcome-to-replyguard",
            "name": name,
            "email": f"x+{tag}@example.com",
            "comment": body,
        },
    )
    assert result.status == 202, result.body
    comment_id = result.json()["id"]
    assert stack.proc.wait_decided(f"/api/v1/sites/demo/comments/{comment_id}")["status"] == "held"
    log_in(page, stack)
    images: list[str] = []
    page.on("request", lambda r: images.append(r.url) if r.url.endswith("/x") else None)

    page.goto(queue_of(stack, "<script>window"))
    item = page.locator(f"#comment-{comment_id}")
    expect(item.locator(".author-name")).to_have_text(name)
    expect(item.locator(".excerpt")).to_have_text(body)
    assert item.locator("script, img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.screenshot(path=str(tmp_path / "queue-markup.png"), full_page=True)

    page.goto(stack.url(f"/moderation/demo/comments/{comment_id}"))
    expect(page.locator("#comment-body")).to_have_text(body)
    expect(page.locator("#comment-body mark")).to_have_text(HELD_WORD)
    expect(page.locator(".facts .author-name")).to_have_text(name)
    assert page.locator("#comment-body script, #comment-body img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.screenshot(path=str(tmp_path / "comment-markup.png"), full_page=True)
    assert images == []


def test_stats_audit_and_settings_pages_work_under_the_csp(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    log_in(page, stack)
    page.get_by_role("link", name="Stats").click()
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("#chart-per-day")).to_be_visible()
    expect(page.locator("#chart-reasons")).to_contain_text("moderation_words")
    page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)

    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tr.audit-row").first).to_be_visible()

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Moderation words")).to_have_value(HELD_WORD)
    page.get_by_label("Disallowed words").fill("casino\nlottery")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#saved")).to_have_text("The settings were saved.")
    expect(page.get_by_label("Disallowed words")).to_have_value("casino\nlottery")
    page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator('tr.audit-row[data-action="settings.update"]').first).to_contain_text(
        "disallowed_words"
    )
