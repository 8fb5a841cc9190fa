"""Public reads through the cache: ETag and 304, cache headers, invalidation by the decision
path (worker and moderators), the HTML fragment, the Atom feed and the counts (F5, F6, P9)."""

from __future__ import annotations

import gzip
import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from core import comments, moderation
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.privacy import PrivacyVault
from core.readcache import ReadCache
from models import Comment, CommentStatus, Role, Site
from tests.conftest import TEST_ORIGIN
from tests.support.moderation import token

BASE = "/api/v1/sites/gazette"
LISTING = f"{BASE}/threads/council-vote/comments"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
ATOM = "{http://www.w3.org/2005/Atom}"


def add(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    n: int,
    *,
    status: CommentStatus = CommentStatus.APPROVED,
    thread: str = "council-vote",
    body: str | None = None,
    website: str | None = None,
    parent: int | None = None,
) -> Comment:
    data = NewComment(
        thread=thread,
        comment=body or f"comment {n}",
        name=f"Author {n}",
        email=f"reader{n}@example.org",
        website=website,
        parent=parent,
        thread_url="https://news.example/council-vote",
        thread_title="Council vote",
    )
    comment = comments.submit(
        session,
        site,
        data,
        meta=SubmissionMeta(ip=f"192.0.2.{n}"),
        vault=vault,
        settings=settings.with_overrides(flood_seconds=0),
    )
    if status is not CommentStatus.PENDING:
        moderation.decide(session, comment, status, decided_by="test", reason="test")
    session.commit()
    return comment


def ids(body: dict[str, Any]) -> list[int]:
    return [c["id"] for c in body["comments"]]


def test_listing_is_cacheable_and_revalidates_with_304(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    first = add(session, site, vault, settings, 1)
    response = client.get(LISTING, headers={"Origin": TEST_ORIGIN})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, no-cache"
    assert {"Origin", "Accept-Encoding"} <= set(response.vary)
    assert response.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    etag = response.headers["ETag"]
    assert etag.startswith('W/"')
    assert ids(response.get_json()) == [first.id]

    again = client.get(LISTING, headers={"If-None-Match": etag, "Origin": TEST_ORIGIN})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    assert again.headers["Cache-Control"] == "public, no-cache"

    # A second page size is another entry with another ETag.
    other = client.get(LISTING + "?limit=10")
    assert other.headers["ETag"] != etag


def test_gzip_for_clients_that_accept_it(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    for n in range(1, 30):
        add(session, site, vault, settings, n, body=f"comment number {n} " * 20)
    plain = client.get(LISTING)
    zipped = client.get(LISTING, headers={"Accept-Encoding": "gzip"})  # miss, then hit
    cached = client.get(LISTING, headers={"Accept-Encoding": "gzip"})
    for response in (zipped, cached):
        assert response.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(response.data)) == plain.get_json()
        assert len(response.data) < len(plain.data) / 3
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["ETag"] == zipped.headers["ETag"] == cached.headers["ETag"]


def test_a_moderators_approval_is_public_at_once(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """The decision path invalidates: no stale listing, no stale 304 after an approval."""
    shown = add(session, site, vault, settings, 1)
    held = add(session, site, vault, settings, 2, status=CommentStatus.HELD)
    before = client.get(LISTING)
    assert ids(before.get_json()) == [shown.id]
    etag = before.headers["ETag"]
    assert client.get(LISTING, headers={"If-None-Match": etag}).status_code == 304

    admin = token(session, site, Role.ADMIN)
    decided = client.post(
        f"{BASE}/moderation/comments/{held.id}/decision", json={"action": "approve"}, headers=admin
    )
    assert decided.status_code == 200
    after = client.get(LISTING, headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert ids(after.get_json()) == [shown.id, held.id]
    assert after.get_json()["total"] == 2

    client.post(
        f"{BASE}/moderation/comments/{shown.id}/decision", json={"action": "delete"}, headers=admin
    )
    assert ids(client.get(LISTING).get_json()) == [held.id]


def test_the_workers_decision_invalidates_too(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    assert client.get(LISTING).get_json()["total"] == 0
    body = "The council vote was closer than the article suggests."
    pending = add(session, site, vault, settings, 1, status=CommentStatus.PENDING, body=body)
    assert client.get(LISTING).get_json()["total"] == 0
    moderation.moderate(session, pending.id, vault=vault)  # what the Celery task runs
    session.commit()
    assert ids(client.get(LISTING).get_json()) == [pending.id]


def test_a_thread_title_filled_in_later_reaches_the_listing(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    comments.get_or_create_thread(session, site, "untitled", url=None, title=None)
    session.commit()
    assert client.get(f"{BASE}/threads/untitled/comments").get_json()["thread"]["title"] is None
    comments.get_or_create_thread(session, site, "untitled", url=None, title="Now titled")
    session.commit()
    body = client.get(f"{BASE}/threads/untitled/comments").get_json()
    assert body["thread"]["title"] == "Now titled"


def test_without_redis_reads_come_from_the_database(
    app: Flask,
    client: FlaskClient,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    app.extensions["replyguard.read_cache"] = ReadCache(dead, ttl=60)
    first = add(session, site, vault, settings, 1)
    response = client.get(LISTING)
    assert response.status_code == 200 and ids(response.get_json()) == [first.id]
    etag = response.headers["ETag"]
    assert client.get(LISTING, headers={"If-None-Match": etag}).status_code == 304
    second = add(session, site, vault, settings, 2)
    changed = client.get(LISTING, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and ids(changed.get_json()) == [first.id, second.id]


def test_a_thousand_comments_in_one_page(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    for n in range(1, 6):
        add(session, site, vault, settings, n)
    assert len(client.get(LISTING + "?limit=1000").get_json()["comments"]) == 5
    capped = client.get(LISTING + "?limit=5000").get_json()
    assert len(capped["comments"]) == 5 and capped["next"] is None


def test_fragment_is_escaped_and_links_are_nofollow_ugc(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """F5, F6: stored raw, escaped on output; website links rel="external nofollow ugc"."""
    root = add(session, site, vault, settings, 1, body=f"Line one\n{XSS}\n\nSecond para")
    add(session, site, vault, settings, 2, website="https://reader.example/", parent=root.id)
    response = client.get(f"{BASE}/threads/council-vote/comments.html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "<p>Line one<br>" in html and "<p>Second para</p>" in html
    assert (
        '<a class="author" href="https://reader.example/" rel="external nofollow ugc noopener">'
        in html
    )
    assert "2 Comments" in html and f'id="comment-{root.id}"' in html
    assert "example.org" not in html  # no email, not even its domain
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and f"frame-ancestors 'self' {TEST_ORIGIN}" in policy
    stored = session.get(Comment, root.id)
    assert stored is not None and stored.body == f"Line one\n{XSS}\n\nSecond para"  # as sent


def test_atom_feed(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    older = add(session, site, vault, settings, 1, body=f"First {XSS}\x01")
    newer = add(session, site, vault, settings, 2, website="https://two.example/")
    add(session, site, vault, settings, 3, status=CommentStatus.HELD)
    response = client.get(f"{BASE}/threads/council-vote/feed.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    text = response.get_data(as_text=True)
    assert "example.org" not in text
    feed = ET.fromstring(response.data)  # noqa: S314 (our own output; well-formed despite the control character)
    assert feed.findtext(f"{ATOM}title") == "Comments on “Council vote”"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"http://localhost{BASE}/comments/{newer.id}",
        f"http://localhost{BASE}/comments/{older.id}",
    ]
    assert entries[0].find(f"{ATOM}author/{ATOM}uri").text == "https://two.example/"  # type: ignore[union-attr]
    link = entries[1].find(f"{ATOM}link")
    assert link is not None
    assert link.get("href") == f"https://news.example/council-vote#comment-{older.id}"
    content = entries[1].find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert content.text is not None and "&lt;script&gt;" in content.text
    assert "<script>" not in content.text
    assert response.headers["ETag"]


def test_counts_for_many_threads_in_one_request(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    add(session, site, vault, settings, 1, thread="a")
    add(session, site, vault, settings, 2, thread="a")
    add(session, site, vault, settings, 3, thread="b", status=CommentStatus.HELD)
    url = f"{BASE}/counts?thread=a&thread=b&thread=never&thread=a"
    response = client.get(url, headers={"Origin": TEST_ORIGIN})
    assert response.status_code == 200
    assert response.get_json() == {"counts": {"a": 2, "b": 0, "never": 0}}
    assert response.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    assert response.headers["Cache-Control"] == "public, no-cache"
    etag = response.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    add(session, site, vault, settings, 4, thread="b")  # approved: invalidates b
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json() == {"counts": {"a": 2, "b": 1, "never": 0}}


@pytest.mark.usefixtures("site")
def test_counts_need_one_to_a_hundred_threads(client: FlaskClient) -> None:
    assert client.get(f"{BASE}/counts").status_code == 422
    many = "&".join(f"thread=t{n}" for n in range(101))
    response = client.get(f"{BASE}/counts?{many}")
    assert response.status_code == 422 and "thread" in response.get_json()["fields"]
    assert client.get("/api/v1/sites/nope/counts?thread=a").status_code == 404


@pytest.mark.usefixtures("site")
def test_other_origins_get_no_cors_headers_on_reads(client: FlaskClient) -> None:
    """X4: never `*`, never a reflected foreign origin."""
    for origin in ("https://evil.example", f"{TEST_ORIGIN}.evil.example", "null"):
        response = client.get(LISTING, headers={"Origin": origin})
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Origin" in response.vary
