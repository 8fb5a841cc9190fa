"""The moderators' web UI through Flask's test client, on PostgreSQL and SQLite: logging in
(throttled, CSRF-protected, a new session id each time, revocable, idle timeout), the
queue, the comment page (every check, highlighted spans, escaping), decisions with their
409, bulk actions, roles and sites (403 / 404), settings, the audit log and stats."""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core import accounts, comments, moderation, passwords
from core.comments import NewComment, SubmissionMeta
from core.config import Settings
from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import AuditEntry, Comment, CommentStatus, Role, Site, WebSession
from models.base import utcnow

PASSWORD = "correct horse battery staple"
HELD_WORD = "heldword"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests are about the UI, not the hash's cost."""
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    """Three failed logins per account are allowed before the throttle answers 429."""
    return base_settings.with_overrides(login_failures_per_account=3, login_failures_per_ip=50)


@dataclass
class Env:
    """The test's database session, vault, settings and the `gazette` site."""

    session: Session
    vault: PrivacyVault
    settings: Settings
    site: Site
    counter: int = 0

    def moderator(self, role: Role, email: str, site: Site | None = None) -> str:
        account = accounts.find_moderator(self.session, email)
        if account is None:
            account = accounts.create_moderator(
                self.session, email, PASSWORD, display_name=email.split("@")[0].title()
            )
        accounts.grant(self.session, account, site or self.site, role)
        self.session.commit()
        return email

    def comment(
        self,
        body: str = "",
        *,
        name: str = "Reader",
        site: Site | None = None,
        decide: bool = True,
    ) -> Comment:
        """A submitted comment, decided by the pipeline (held when it has HELD_WORD)."""
        self.counter += 1
        n = self.counter
        body = body or f"Please look at this {HELD_WORD} here (number {n})."
        made = comments.submit(
            self.session,
            site or self.site,
            NewComment(
                thread="council-vote",
                comment=body,
                name=name,
                email=f"reader{n}@example.org",
                thread_title="Council votes",
                thread_url="https://news.example/council-vote",
            ),
            meta=SubmissionMeta(ip=f"198.51.100.{n}", user_agent="pytest"),
            vault=self.vault,
            settings=self.settings,
        )
        self.session.commit()
        if decide:
            moderation.moderate(self.session, made.id, vault=self.vault)
            self.session.commit()
        return made


@pytest.fixture
def env(session: Session, vault: PrivacyVault, settings: Settings, site: Site) -> Env:
    site.policy = {"moderation_words": [HELD_WORD], "flood_seconds": 0}
    session.commit()
    return Env(session, vault, settings, site)


def csrf(response: TestResponse, form_action: str = "") -> str:
    """The CSRF token of the page (of the form posting to `form_action`, if given)."""
    page = response.get_data(as_text=True)
    found = TOKEN_RE.search(page, page.index(f'action="{form_action}') if form_action else 0)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str) -> TestResponse:
    form = client.get("/moderation/login")
    return client.post(
        "/moderation/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf(form, "/moderation/login"),
            **extra,
        },
    )


def logged_in(client: FlaskClient, email: str) -> str:
    """Log in and return the page CSRF token for later posts."""
    response = login(client, email)
    assert response.status_code == 303, response.get_data(as_text=True)
    return csrf(client.get("/moderation/gazette/settings"))


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("rg_session")
    return cookie.value if cookie else None


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def refreshed(session: Session, comment: Comment) -> Comment:
    """The comment as stored now. The read's transaction is ended, as every read of the
    test's session between requests must be: the app shares this session, and its pages
    begin a read-only transaction of their own."""
    session.expire_all()
    row = session.get(Comment, comment.id)
    assert row is not None
    session.commit()
    return row


# -- logging in ------------------------------------------------------------------------------


def test_login_page_sets_security_headers(client: FlaskClient) -> None:
    response = client.get("/moderation/login")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert '<html lang="en">' in page
    assert '<label for="email">' in page and '<label for="password">' in page
    assert "style=" not in page and "<script>" not in page


def test_anonymous_pages_redirect_to_login_with_a_local_next(client: FlaskClient, env: Env) -> None:
    response = client.get("/moderation/gazette/?status=spam")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/moderation/login"
    assert parse_qs(location.query)["next"] == ["/moderation/gazette/?status=spam"]
    assert client.post("/moderation/gazette/bulk").status_code == 303


def test_login_starts_a_fresh_http_only_session_each_time(
    client: FlaskClient, env: Env, session: Session
) -> None:
    email = env.moderator(Role.MODERATOR, "mod@example.org")
    first = login(client, email, next="/moderation/gazette/?status=held")
    assert first.status_code == 303
    assert first.headers["Location"] == "/moderation/gazette/?status=held"
    cookie = next(c for c in first.headers.getlist("Set-Cookie") if c.startswith("rg_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    token_one = session_cookie(client)

    second = login(client, email)
    assert second.status_code == 303, text(second)
    assert second.headers["Location"] == "/moderation/"
    token_two = session_cookie(client)
    assert token_one and token_two and token_one != token_two
    rows = list(session.scalars(select(WebSession).order_by(WebSession.id)))
    assert [r.revoked_at is not None for r in rows] == [True, False]  # the old id is dead
    session.commit()
    assert client.get("/moderation/").headers["Location"] == "/moderation/gazette/"


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/demo"]
)
def test_login_never_redirects_off_the_ui(client: FlaskClient, env: Env, target: str) -> None:
    email = env.moderator(Role.VIEWER, "viewer@example.org")
    response = login(client, email, next=target)
    assert response.headers["Location"] == "/moderation/"


def test_wrong_password_is_401_then_throttled_429(
    client: FlaskClient, env: Env, session: Session
) -> None:
    email = env.moderator(Role.MODERATOR, "mod@example.org")
    unknown = login(client, "nobody@example.org", "whatever-password")
    assert unknown.status_code == 401
    for _ in range(3):
        wrong = login(client, email, "not the password at all")
        assert wrong.status_code == 401
        assert "Unknown email or wrong password." in text(wrong)
        assert session_cookie(client) is None
    throttled = login(client, email)  # even the right password, once throttled
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed logins" in text(throttled)
    assert session_cookie(client) is None
    assert session.scalar(select(WebSession.id)) is None


def test_logins_are_throttled_per_address_too(
    app: Flask, client: FlaskClient, env: Env, settings: Settings
) -> None:
    app.extensions["replyguard.settings"] = settings.with_overrides(login_failures_per_ip=2)
    email = env.moderator(Role.MODERATOR, "mod@example.org")
    for n in range(2):  # different accounts, one address
        assert login(client, f"guess{n}@example.org", "a wrong password").status_code == 401
    assert login(client, email).status_code == 429
    other_address = client.get("/moderation/login", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    response = client.post(
        "/moderation/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": csrf(other_address, "/moderation/login"),
        },
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert response.status_code == 303


def test_login_form_without_its_csrf_token_is_refused(client: FlaskClient, env: Env) -> None:
    email = env.moderator(Role.MODERATOR, "mod@example.org")
    client.get("/moderation/login")
    response = client.post("/moderation/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 403
    assert session_cookie(client) is None


def test_logout_revokes_the_session(client: FlaskClient, env: Env, session: Session) -> None:
    email = env.moderator(Role.MODERATOR, "mod@example.org")
    token = logged_in(client, email)
    old_cookie = session_cookie(client)
    assert old_cookie
    response = client.post("/moderation/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/moderation/login"
    assert session_cookie(client) is None
    client.set_cookie("rg_session", old_cookie)  # a copy of the cookie is worthless now
    assert client.get("/moderation/gazette/").status_code == 303
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))
    assert list(actions) == ["session.login", "session.logout"]


def test_unknown_paths_and_the_logout_page_are_html(client: FlaskClient, env: Env) -> None:
    logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    for url in ("/moderation/gazette/comments/abc", "/moderation/gazette/nothing/here"):
        response = client.get(url)
        assert response.status_code == 404 and response.mimetype == "text/html"
        assert response.headers["Content-Security-Policy"] == CSP
    page = client.get("/moderation/logout")
    assert page.status_code == 200 and "Log out now" in text(page)
    assert client.get("/moderation/gazette/audit").status_code == 200  # not shadowed


def test_idle_sessions_end_and_reading_keeps_them_alive(
    client: FlaskClient, env: Env, session: Session
) -> None:
    email = env.moderator(Role.MODERATOR, "mod@example.org")
    logged_in(client, email)
    idle = dt.timedelta(minutes=env.settings.session_idle_minutes)

    session.execute(update(WebSession).values(last_seen_at=utcnow() - idle / 2))
    session.commit()
    assert client.get("/moderation/gazette/").status_code == 200
    session.expire_all()
    seen = session.scalar(select(WebSession.last_seen_at))
    assert seen is not None and utcnow() - seen < dt.timedelta(minutes=1)  # a read refreshed it

    session.execute(update(WebSession).values(last_seen_at=utcnow() - idle - dt.timedelta(1)))
    session.commit()
    response = client.get("/moderation/gazette/")
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/moderation/login"


# -- the queue and one comment ---------------------------------------------------------------


def test_queue_lists_held_comments_with_counts_and_reasons(client: FlaskClient, env: Env) -> None:
    held = env.comment()
    env.comment("An unremarkable remark.")
    logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    response = client.get("/moderation/gazette/")
    page = text(response)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == CSP
    assert re.search(r'id="tab-held" aria-current="page">Held <span class="count">1</span>', page)
    assert re.search(r'id="tab-approved">Approved <span class="count">1</span>', page)
    assert f'id="comment-{held.id}"' in page
    assert "r…@example.org" in page and "reader1@example.org" not in page
    assert "moderation word: &#34;heldword&#34; in the comment" in page
    assert '<span class="check">moderation_words</span>: hold' in page
    assert 'value="approve"' in page and 'name="expected_status" value="held"' in page


def test_comment_page_shows_every_check_and_marks_the_spans(client: FlaskClient, env: Env) -> None:
    held = env.comment(f"First line\n<b>{HELD_WORD.upper()}</b> & more")
    logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    page = text(client.get(f"/moderation/gazette/comments/{held.id}"))
    assert "First line\n&lt;b&gt;<mark>HELDWORD</mark>&lt;/b&gt; &amp; more" in page
    for check in ("author_banned", "disallowed_words", "moderation_words", "max_links"):
        assert f'<th scope="row">{check}</th>' in page
    assert "<strong>hold</strong>" in page and "no objection" in page
    assert "Council votes" in page and 'href="https://news.example/council-vote"' in page
    assert 'data-status="held">1<' in page  # the author's history


def test_markup_from_commenters_is_inert_everywhere(client: FlaskClient, env: Env) -> None:
    name = "<script>window.__xss=1</script>"
    body = f'<img src=x onerror="window.__xss=2"> {HELD_WORD}'
    held = env.comment(body, name=name)
    logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    for url in ("/moderation/gazette/", f"/moderation/gazette/comments/{held.id}"):
        page = text(client.get(url))
        assert "<script>window" not in page and "<img src=x" not in page
        assert html.escape(name, quote=False) in page
        assert "&lt;img src=x onerror=" in page
        assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", page)  # no event handler anywhere
        assert "style=" not in page
        assert re.findall(r"<script[^>]*>", page) == [
            '<script src="/static/moderation/moderation.js" defer>'
        ]


def test_other_sites_and_their_comments_are_not_found(
    client: FlaskClient, env: Env, session: Session
) -> None:
    other = ensure_site(session, "other", name="Other Paper")
    session.commit()
    theirs = env.comment(site=other)
    logged_in(client, env.moderator(Role.ADMIN, "mod@example.org"))
    for url in (
        "/moderation/other/",
        f"/moderation/other/comments/{theirs.id}",
        f"/moderation/gazette/comments/{theirs.id}",
        "/moderation/no-such-site/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "There is nothing here, or you have no access to it." in text(response)
        assert "Other Paper" not in text(response)


# -- decisions -------------------------------------------------------------------------------


def test_approving_returns_to_the_queue_with_the_next_item_selected(
    client: FlaskClient, env: Env, session: Session
) -> None:
    first, second, third = env.comment(), env.comment(), env.comment()
    token = logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    queue_page = text(client.get("/moderation/gazette/?status=held&order=oldest"))
    # In oldest-first order the second item's form names the third as the next one.
    assert re.search(
        rf'comments/{second.id}/decision">.*?name="return_to" value="status=held&amp;order=oldest">'
        rf'\s*<input type="hidden" name="focus_next" value="{third.id}">',
        queue_page,
        re.S,
    )
    response = client.post(
        f"/moderation/gazette/comments/{second.id}/decision",
        data={
            "csrf_token": token,
            "action": "approve",
            "expected_status": "held",
            "return_to": "status=held&order=oldest&evil=https://x",
            "focus_next": str(third.id),
        },
    )
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/moderation/gazette/"
    assert parse_qs(location.query) == {
        "status": ["held"],
        "order": ["oldest"],
        "focus": [str(third.id)],
        "done": ["approve"],
        "done_id": [str(second.id)],
    }
    assert location.fragment == f"comment-{third.id}"
    assert refreshed(session, second).status is CommentStatus.APPROVED
    assert refreshed(session, first).status is CommentStatus.HELD

    after = text(client.get(response.headers["Location"]))
    assert f'id="comment-{second.id}"' not in after
    assert f'id="comment-{third.id}" data-id="{third.id}" tabindex="-1"' in after
    assert re.search(rf'id="comment-{third.id}"[^>]*aria-current="true"', after)
    assert f"#{second.id}</a> approved." in after
    entry = session.scalar(select(AuditEntry).where(AuditEntry.comment_id == second.id))
    assert entry is not None and entry.action == "comment.approve"
    assert (entry.before, entry.after, entry.actor_name) == ("held", "approved", "Mod")


def test_second_moderator_gets_409_and_sees_the_first_decision(
    app: Flask, env: Env, session: Session
) -> None:
    held = env.comment()
    alice, bob = app.test_client(), app.test_client()
    alice_token = logged_in(alice, env.moderator(Role.MODERATOR, "alice@example.org"))
    bob_token = logged_in(bob, env.moderator(Role.MODERATOR, "bob@example.org"))
    url = f"/moderation/gazette/comments/{held.id}/decision"
    first = alice.post(
        url, data={"csrf_token": alice_token, "action": "approve", "expected_status": "held"}
    )
    assert first.status_code == 303
    second = bob.post(
        url, data={"csrf_token": bob_token, "action": "reject", "expected_status": "held"}
    )
    assert second.status_code == 409
    page = text(second)
    assert 'id="conflict"' in page
    assert '<strong class="conflict-status">approved</strong>' in page
    assert '<strong class="conflict-by">Alice</strong>' in page
    assert refreshed(session, held).status is CommentStatus.APPROVED


def test_decisions_need_the_csrf_token(client: FlaskClient, env: Env, session: Session) -> None:
    held = env.comment()
    logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    for token in ("", "0" * 64):
        response = client.post(
            f"/moderation/gazette/comments/{held.id}/decision",
            data={"csrf_token": token, "action": "approve", "expected_status": "held"},
        )
        assert response.status_code == 403
        assert "CSRF" in text(response)
    assert refreshed(session, held).status is CommentStatus.HELD
    assert session.scalar(select(AuditEntry.id).where(AuditEntry.comment_id == held.id)) is None


def test_viewers_read_but_cannot_decide(client: FlaskClient, env: Env, session: Session) -> None:
    held = env.comment()
    token = logged_in(client, env.moderator(Role.VIEWER, "viewer@example.org"))
    page = text(client.get("/moderation/gazette/"))
    assert f'id="comment-{held.id}"' in page and "form[data-decide]" not in page
    assert "data-decide" not in page and 'id="bulk"' not in page
    response = client.post(
        f"/moderation/gazette/comments/{held.id}/decision",
        data={"csrf_token": token, "action": "approve", "expected_status": "held"},
    )
    assert response.status_code == 403
    assert refreshed(session, held).status is CommentStatus.HELD


def test_bulk_spam_decides_the_selection(client: FlaskClient, env: Env, session: Session) -> None:
    one, two, untouched = env.comment(), env.comment(), env.comment()
    token = logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    response = client.post(
        "/moderation/gazette/bulk",
        data={
            "csrf_token": token,
            "action": "spam",
            "ids": [str(one.id), str(two.id), "999999"],
            "return_to": "status=held",
        },
    )
    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["done"] == ["bulk-spam"] and query["count"] == ["2"] and query["failed"] == ["1"]
    assert refreshed(session, one).status is CommentStatus.SPAM
    assert refreshed(session, two).status is CommentStatus.SPAM
    assert refreshed(session, untouched).status is CommentStatus.HELD
    spam_tab = text(client.get("/moderation/gazette/?status=spam"))
    assert f'id="comment-{one.id}"' in spam_tab and 'value="ham"' in spam_tab
    assert "2 comments marked as spam." in text(client.get(response.headers["Location"]))


def test_reply_author_marks_and_the_author_page(
    client: FlaskClient, env: Env, session: Session
) -> None:
    approved = env.comment("A fine remark.")
    token = logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    base = f"/moderation/gazette/comments/{approved.id}"
    reply = client.post(f"{base}/reply", data={"csrf_token": token, "comment": "Thank you!"})
    assert reply.status_code == 303
    made = session.scalar(select(Comment).where(Comment.parent_id == approved.id))
    assert made is not None and made.status is CommentStatus.APPROVED
    assert made.author_name == "The Gazette"

    ban = client.post(f"{base}/author", data={"csrf_token": token, "action": "ban"})
    assert ban.status_code == 303
    page = text(client.get(ban.headers["Location"]))
    assert "The author is banned" in page and "<strong>Banned</strong> by email" in page
    trust_ip = client.post(
        f"{base}/author", data={"csrf_token": token, "action": "trust", "by": "ip"}
    )
    assert trust_ip.status_code == 422
    actions = list(
        session.scalars(select(AuditEntry.action).where(AuditEntry.comment_id == approved.id))
    )
    assert actions == ["author.ban"]
    session.commit()
    author_url = re.search(r'href="(/moderation/gazette/authors/[0-9a-f]{64})"', page)
    assert author_url
    author_page = text(client.get(author_url.group(1)))
    assert 'data-status="approved">1<' in author_page and "A fine remark." in author_page


def test_revealing_an_email_is_for_admins_and_audited(
    client: FlaskClient, env: Env, session: Session
) -> None:
    held = env.comment()
    url = f"/moderation/gazette/comments/{held.id}/reveal-email"
    token = logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    assert "Reveal the full email" not in text(
        client.get(f"/moderation/gazette/comments/{held.id}")
    )
    assert client.post(url, data={"csrf_token": token}).status_code == 403

    env.moderator(Role.ADMIN, "mod@example.org")
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "reader1@example.org" in text(response)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "email.reveal"))
    assert entry is not None and entry.comment_id == held.id
    assert "reader1@example.org" not in text(client.get(f"/moderation/gazette/comments/{held.id}"))


# -- settings, audit log, stats ----------------------------------------------------------------


def test_admins_save_settings_and_the_change_is_audited(
    client: FlaskClient, env: Env, session: Session
) -> None:
    token = logged_in(client, env.moderator(Role.ADMIN, "admin@example.org"))
    page = text(client.get("/moderation/gazette/settings"))
    assert '<label for="disallowed_words">' in page and "<fieldset disabled" not in page
    assert 'name="form_min_seconds" type="number"' in page and 'value="3.0"' in page
    response = client.post(
        "/moderation/gazette/settings",
        data={
            "csrf_token": token,
            "disallowed_words": "casino\r\n  viagra \r\n\r\ncasino",
            "moderation_words": f"{HELD_WORD}\nrefund",
            "max_links": "3",
            "premoderation": "on",
            "form_min_seconds": "4.5",
        },
    )
    assert response.status_code == 303
    stored = session.get(Site, env.site.id)
    assert stored is not None
    assert stored.policy["form_min_seconds"] == 4.5
    assert stored.policy["disallowed_words"] == ["casino", "viagra"]
    assert stored.policy["moderation_words"] == [HELD_WORD, "refund"]
    assert stored.policy["max_links"] == 3 and stored.policy["premoderation"] is True
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "settings.update"))
    assert entry is not None and entry.detail["max_links"] == {"before": 2, "after": 3}
    session.commit()
    audit_page = text(client.get("/moderation/gazette/audit"))
    assert "settings.update" in audit_page and "max_links: 2 → 3" in audit_page

    bad = client.post(
        "/moderation/gazette/settings",
        data={"csrf_token": token, "max_links": "lots", "disallowed_words": "x"},
    )
    assert bad.status_code == 422
    assert 'id="max_links-error"' in text(bad) and 'aria-invalid="true"' in text(bad)


def test_only_admins_change_settings(client: FlaskClient, env: Env, session: Session) -> None:
    token = logged_in(client, env.moderator(Role.MODERATOR, "mod@example.org"))
    assert "<fieldset disabled" in text(client.get("/moderation/gazette/settings"))
    response = client.post(
        "/moderation/gazette/settings",
        data={"csrf_token": token, "disallowed_words": "x", "max_links": "1"},
    )
    assert response.status_code == 403
    assert session.scalar(select(AuditEntry.id).where(AuditEntry.site_id == env.site.id)) is None


def test_thread_premoderation_form(client: FlaskClient, env: Env, session: Session) -> None:
    held = env.comment()
    token = logged_in(client, env.moderator(Role.ADMIN, "admin@example.org"))
    url = "/moderation/gazette/settings/thread"
    ok = client.post(
        url, data={"csrf_token": token, "thread": "council-vote", "premoderation": "on"}
    )
    assert ok.status_code == 303
    assert refreshed(session, held).thread.premoderated is True
    missing = client.post(url, data={"csrf_token": token, "thread": "no-such-thread"})
    assert missing.status_code == 422 and "no such thread" in text(missing)


def test_stats_page_draws_svg_charts_with_tables(client: FlaskClient, env: Env) -> None:
    env.comment()
    env.comment("An unremarkable remark.")
    logged_in(client, env.moderator(Role.VIEWER, "viewer@example.org"))
    response = client.get("/moderation/gazette/stats?days=7")
    page = text(response)
    assert response.status_code == 200
    assert page.count('role="img"') == 4 and page.count("<svg") == 4
    assert '<title id="chart-per-day-title">Comments per day by status, last 7 days' in page
    assert ": 1 held</title>" in page and ": 1 approved</title>" in page
    assert "moderation_words" in page  # top reasons
    assert 'id="spam-rate">0.0%<' in page
    assert "style=" not in page


def test_authors_are_found_by_email_without_it_entering_a_url(
    client: FlaskClient, env: Env
) -> None:
    held = env.comment()
    token = logged_in(client, env.moderator(Role.VIEWER, "viewer@example.org"))
    response = client.post(
        "/moderation/gazette/authors", data={"csrf_token": token, "email": "Reader1@Example.org"}
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert "reader1" not in location.lower()
    page = text(client.get(location))
    assert f"#{held.id}</a>" in page and 'data-status="held">1<' in page
    assert "reader1@example.org" not in page
    ignored = text(client.get("/moderation/gazette/?email=reader1@example.org"))
    assert "reader1@example.org" not in ignored  # not carried into forms or links
