"""The /demo article without JavaScript: a reader fills the plain "Leave a Reply" form, is
sent back to the article with the moderation notice, and finds the comment there once
approved (with JavaScript the embed widget replaces both; see test_embed_widget.py).

Headless Chromium (the Debian package; Playwright cannot download browsers here), with
JavaScript disabled, runs against one `replyguard run` stack for the module, started with
the flood rule off (every request comes from 127.0.0.1 and a browser cannot set
X-Forwarded-For). Each test records every response the browser receives and checks that
none of them carries the commenter's email address. The form carries a signed form token,
so the reader takes a few seconds before posting, as people do: faster posts are held.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    XSS,
    Commenter,
    ResponseLog,
    SeenResponse,
)
from tests.support.devstack_proc import DevStackProcess

pytestmark = pytest.mark.browser
__all__ = ["Commenter", "ResponseLog", "SeenResponse"]  # importable from here as before
READING_SECONDS = 3.2  # a form posted sooner after loading is held (form_signals check)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStackProcess]:
    proc = DevStackProcess(
        tmp_path_factory.mktemp("browser-stack"), env={"REPLYGUARD_FLOOD_SECONDS": "0"}
    )
    with proc:
        yield proc


@pytest.fixture
def responses() -> ResponseLog:
    return ResponseLog()


@pytest.fixture
def page(browser: Browser, responses: ResponseLog) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1024, "height": 900}, java_script_enabled=False
    )
    opened = context.new_page()
    opened.on("response", responses.record)
    yield opened
    context.close()


def leave_a_reply(
    page: Page, stack: DevStackProcess, commenter: Commenter, text: str, website: str = ""
) -> int:
    """Fill and send the /demo form; check the notice; return the new comment's id."""
    page.goto(stack.url("/demo"))
    page.wait_for_timeout(READING_SECONDS * 1000)
    page.fill("#comment", text)
    page.fill("#author", commenter.name)
    page.fill("#email", commenter.email)
    page.fill("#url", website)
    page.get_by_role("button", name="Post Comment").click()
    page.wait_for_url(re.compile(r"/demo\?rg_status=awaiting-moderation"))
    # A fast worker may have approved it already; then the notice says it is published.
    notice = page.locator("#comments p.notice[role=status]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(
        re.compile(r"Your comment is awaiting moderation\.|your comment has been published\.")
    )
    location = urlsplit(page.url)
    assert location.path == "/demo"
    comment_id = int(parse_qs(location.query)["rg_comment"][0])
    assert location.fragment == f"comment-{comment_id}"
    return comment_id


def wait_until_approved(stack: DevStackProcess, comment_id: int) -> None:
    decided = stack.wait_decided(f"/api/v1/sites/demo/comments/{comment_id}", timeout=30)
    assert decided["status"] == "approved", decided


def test_reader_leaves_a_reply_and_sees_it_after_approval(
    stack: DevStackProcess, page: Page, responses: ResponseLog, tmp_path: Path
) -> None:
    page.goto(stack.url("/demo"))
    expect(page.locator("h1")).to_have_text("Council approves new riverside park")
    form = page.locator("#commentform")
    expect(page.locator("#respond h3")).to_have_text("Leave a Reply")
    expect(form).to_contain_text(
        "Your email address will not be published. Required fields are marked *"
    )
    for field_id, label, required in [
        ("comment", "Comment *", True),
        ("author", "Name *", True),
        ("email", "Email *", True),
        ("url", "Website", False),
    ]:
        expect(form.locator(f"label[for={field_id}]")).to_have_text(label)
        control = form.locator(f"#{field_id}")
        expect(control).to_be_visible()
        assert (control.get_attribute("required") is not None) is required, field_id
    expect(form.locator("#email")).to_have_attribute("type", "email")

    reader = Commenter("Mara Riverside")
    text = f"Finally a park by the river! Will there be benches? ({reader.token[:8]})"
    comment_id = leave_a_reply(page, stack, reader, text, website="https://mara.example.org")
    wait_until_approved(stack, comment_id)

    page.reload()
    posted = page.locator(f"#comment-{comment_id}")
    expect(posted.locator(".body")).to_have_text(text)
    expect(posted.locator(".author")).to_have_text("Mara Riverside")
    expect(posted.locator("a.author")).to_have_attribute("href", "https://mara.example.org")
    expect(page.locator("#comments h2")).to_contain_text("Comment")
    page.screenshot(path=str(tmp_path / "demo-after-approval.png"), full_page=True)

    responses.assert_never_contains(reader.email, reader.token)


def test_held_comment_shows_the_awaiting_moderation_notice(
    stack: DevStackProcess, page: Page, responses: ResponseLog
) -> None:
    """Two links hold a comment for a human: the reader sees WordPress's notice and the
    comment stays off the page."""
    reader = Commenter("Link Sharer")
    text = f"Sources: https://a.example/1 and https://b.example/2 ({reader.token[:8]})"
    comment_id = leave_a_reply(page, stack, reader, text)
    decided = stack.wait_decided(f"/api/v1/sites/demo/comments/{comment_id}", timeout=30)
    assert decided["status"] == "held", decided
    page.reload()
    notice = page.locator("#awaiting-moderation")
    expect(notice).to_have_text(f"Your comment is awaiting moderation. (comment #{comment_id})")
    expect(page.locator(f"#comment-{comment_id}")).to_have_count(0)
    responses.assert_never_contains(reader.email, reader.token)


def test_markup_in_a_comment_is_shown_as_text(
    stack: DevStackProcess, page: Page, responses: ResponseLog
) -> None:
    reader = Commenter("Script Kiddie")
    text = f"Nice article {XSS} ({reader.token[:8]})"
    comment_id = leave_a_reply(page, stack, reader, text)
    wait_until_approved(stack, comment_id)

    page.goto(stack.url("/demo"))
    body = page.locator(f"#comment-{comment_id} .body")
    expect(body).to_have_text(text)
    assert body.inner_text() == text
    assert body.locator("script, img").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert not [r.url for r in responses.seen if urlsplit(r.url).path == "/x"], (
        "the <img src=x> in the comment was loaded as markup"
    )

    responses.assert_never_contains(reader.email, reader.token)
