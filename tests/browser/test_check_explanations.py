"""A held comment explains itself in a real browser, against a real `replyguard run` stack.

The demo site holds comments with a moderation word and runs the toxicity check in shadow
mode (set through the JSON settings API); a comment arrives through the public API and is
decided by the real worker with the shipped classifiers. Headless Chromium then reads the
marked passages and the shadow verdict on the comment's page, and changes a classifier
threshold on the settings page. Every page is watched for script errors and
Content-Security-Policy violations.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect

from tests.support.devstack_proc import (
    DevStackProcess,
    http_request,
    run_cli,
)

pytestmark = pytest.mark.browser

PASSWORD = "a long enough moderator password"
ADMIN = "explain-admin@example.com"
HELD_WORD = "heldword"
BODY = f"<script>window.__xss=1</script> {HELD_WORD}: you are an idiot and a moron"
SHADOW_LABEL = "shadow — not acted on"


@dataclass
class Stack:
    proc: DevStackProcess
    token: str

    def url(self, path: str) -> str:
        return self.proc.url(path)

    def settings(self) -> dict[str, object]:
        response = http_request(
            "GET",
            self.url("/api/v1/sites/demo/moderation/settings"),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response.status == 200, response.body
        found: dict[str, object] = response.json()
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    proc = DevStackProcess(
        tmp_path_factory.mktemp("check-explanations-stack"),
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
        changed = http_request(
            "PUT",
            proc.url("/api/v1/sites/demo/moderation/settings"),
            body=json.dumps(
                {
                    "moderation_words": [HELD_WORD],
                    "toxicity_hold_at": 0.3,
                    "shadow_checks": ["toxicity"],
                }
            ).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert changed.status == 200, changed.body
        yield Stack(proc, token)


@dataclass
class Problems:
    """Script errors and console errors (CSP violations are reported there)."""

    seen: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico on its own; the app has none (a 404).
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            self.seen.append(f"console: {message.text} at {message.location['url']}")

    def error(self, exc: Error) -> None:
        self.seen.append(f"page error: {exc}")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    problems = Problems()
    opened.on("console", problems.console)
    opened.on("pageerror", problems.error)
    yield opened
    context.close()
    assert not problems.seen, problems.seen


def log_in(page: Page, stack: Stack) -> None:
    page.goto(stack.url("/moderation/login"))
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/moderation/[a-z]+/$"))


def held_comment(stack: Stack) -> int:
    result = stack.proc.post_json(
        "/api/v1/sites/demo/comments",
        {
            "thread": "welcome-to-replyguard",
            "name": f"Explained {uuid.uuid4().hex[:8]}",
            "email": f"reader+{uuid.uuid4().hex}@example.com",
            "comment": BODY,
        },
    )
    assert result.status == 202, result.body
    comment_id = int(result.json()["id"])
    decided = stack.proc.wait_decided(f"/api/v1/sites/demo/comments/{comment_id}")
    assert decided["status"] == "held", decided
    return comment_id


def test_a_held_comment_marks_its_passages_and_labels_the_shadow_verdict(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    comment_id = held_comment(stack)
    log_in(page, stack)
    page.goto(stack.url(f"/moderation/demo/comments/{comment_id}"))

    body = page.locator("#comment-body")
    expect(body).to_have_text(BODY)  # the markup is text, not elements
    assert body.locator("script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    expect(body.locator("mark")).to_have_text([HELD_WORD, "idiot", "moron"])
    expect(body.locator("mark.shadow-mark")).to_have_text(["idiot", "moron"])

    opinions = page.locator("table.checks:not(.quiet) tbody tr")
    expect(opinions).to_have_count(2)
    words, toxicity = opinions.nth(0), opinions.nth(1)
    expect(words.locator(".check-label")).to_have_text("Moderation word list")
    expect(words.locator(".verdict")).to_have_text("hold")
    expect(words.locator(".shadow-label")).to_have_count(0)
    expect(toxicity.locator(".check-label")).to_have_text("Toxicity")
    expect(toxicity.locator(".shadow-label")).to_have_text(SHADOW_LABEL)
    expect(toxicity.locator(".shadow-label")).to_be_visible()
    expect(toxicity.locator(".reason")).to_contain_text('"idiot"')
    expect(toxicity.locator(".score")).to_have_text(re.compile(r"^0\.\d\d$"))

    quiet = page.locator("details.quiet-checks")
    expect(quiet.locator("summary")).to_have_text("12 checks had no opinion")
    expect(quiet.locator("table")).to_be_hidden()
    quiet.locator("summary").click()
    expect(quiet.locator("table")).to_be_visible()
    expect(quiet.locator('tr[data-check="spam_classifier"] .check-label')).to_have_text(
        "Spam classifier"
    )
    page.screenshot(path=str(tmp_path / "explained.png"), full_page=True)


def test_a_threshold_changed_on_the_settings_page_is_saved(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    log_in(page, stack)
    page.goto(stack.url("/moderation/demo/settings"))
    # Each list field's label names it alone (the shadow-mode boxes are named otherwise).
    expect(page.get_by_label("Moderation words")).to_have_value(HELD_WORD)
    expect(page.get_by_label("Disallowed words")).to_have_value("")
    expect(page.get_by_label("Toxicity hold threshold")).to_have_value("0.3")
    expect(page.get_by_label("Toxicity reject threshold")).to_have_value("")
    expect(page.get_by_role("checkbox", name="Toxicity toxicity")).to_be_checked()
    page.get_by_label("Spam hold threshold").fill("0.8")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#saved")).to_have_text("The settings were saved.")
    expect(page.get_by_label("Spam hold threshold")).to_have_value("0.8")
    expect(page.get_by_role("checkbox", name="Toxicity toxicity")).to_be_checked()
    page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)
    saved = stack.settings()
    assert saved["spam_hold_at"] == 0.8
    assert saved["shadow_checks"] == ["toxicity"] and saved["toxicity_hold_at"] == 0.3
