"""Moderator sessions and tokens (M4, M5): a fresh session id at login (no fixation),
logout ends the session for good, idle and absolute timeouts (on a fake clock), revoked
sessions and tokens are refused with 401 by the API and sent to the login page by the UI."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core import accounts, passwords
from core.config import Settings
from models import Role, Site
from models.base import utcnow

PASSWORD = "a long enough moderator password"
EMAIL = "mod@example.org"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
QUEUE_API = "/api/v1/sites/gazette/moderation/queue"


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


class Clock:
    """A fake `utcnow` for core.accounts: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(accounts, "utcnow", fake)
    return fake


@pytest.fixture
def moderator(session: Session, site: Site) -> str:
    account = accounts.create_moderator(session, EMAIL, PASSWORD)
    accounts.grant(session, account, site, Role.MODERATOR)
    session.commit()
    return EMAIL


def csrf(response: TestResponse, form_action: str = "") -> str:
    """The CSRF token of the page's form posting to `form_action` (the first form if "")."""
    page = response.get_data(as_text=True)
    found = TOKEN_RE.search(page, page.index(f'action="{form_action}') if form_action else 0)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: FlaskClient, email: str = EMAIL) -> TestResponse:
    form = client.get("/moderation/login")
    return client.post(
        "/moderation/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf(form, "/moderation/login")},
    )


def cookie(client: FlaskClient) -> str | None:
    found = client.get_cookie("rg_session")
    return found.value if found else None


def api_status(client: FlaskClient, session_id: str) -> int:
    """The moderation API's answer to a request carrying this session cookie."""
    client.set_cookie("rg_session", session_id)
    return client.get(QUEUE_API).status_code


def ui_is_logged_in(client: FlaskClient) -> bool:
    response = client.get("/moderation/gazette/")
    return response.status_code == 200


@pytest.mark.usefixtures("moderator")
def test_login_issues_a_new_id_whatever_the_browser_held(
    client: FlaskClient, session: Session
) -> None:
    planted = "attacker-chosen-session-id-0123456789abcdef"
    client.set_cookie("rg_session", planted)
    assert login(client).status_code == 303
    issued = cookie(client)
    assert issued and issued != planted
    session.commit()
    assert api_status(client, planted) == 401  # the planted id is worth nothing
    assert api_status(client, issued) == 200
    # Logging in again (another tab, a switch of account) issues yet another id and ends
    # the previous one.
    assert login(client).status_code == 303
    again = cookie(client)
    assert again not in {issued, planted}
    session.commit()
    assert api_status(client, issued) == 401
    assert api_status(client, again) == 200


@pytest.mark.usefixtures("moderator")
def test_logout_ends_the_session_for_good(client: FlaskClient, session: Session) -> None:
    assert login(client).status_code == 303
    old = cookie(client)
    assert old
    page = client.get("/moderation/logout")
    response = client.post(
        "/moderation/logout", data={"csrf_token": csrf(page, "/moderation/logout")}
    )
    assert response.status_code == 303
    assert cookie(client) is None  # the browser is told to forget it
    session.commit()
    assert api_status(client, old) == 401  # and a copy of it is refused
    assert not ui_is_logged_in(client)


@pytest.mark.usefixtures("moderator")
def test_logout_needs_the_csrf_token(client: FlaskClient, session: Session) -> None:
    assert login(client).status_code == 303
    held = cookie(client)
    assert client.post("/moderation/logout", data={}).status_code == 403
    session.commit()
    assert held and api_status(client, held) == 200


@pytest.mark.usefixtures("moderator")
def test_idle_timeout(
    client: FlaskClient, session: Session, clock: Clock, settings: Settings
) -> None:
    idle = settings.session_idle_minutes
    assert login(client).status_code == 303
    sid = cookie(client)
    assert sid
    session.commit()
    clock.advance(minutes=idle - 1)
    assert api_status(client, sid) == 200  # activity: the idle timer starts again
    session.commit()
    clock.advance(minutes=idle - 1)
    assert api_status(client, sid) == 200
    session.commit()
    clock.advance(minutes=idle + 1)
    assert api_status(client, sid) == 401
    assert not ui_is_logged_in(client)


@pytest.mark.usefixtures("moderator")
def test_absolute_timeout_whatever_the_activity(
    client: FlaskClient, session: Session, clock: Clock, settings: Settings
) -> None:
    assert login(client).status_code == 303
    sid = cookie(client)
    assert sid
    session.commit()
    step = settings.session_idle_minutes // 2
    elapsed = 0
    limit = settings.session_absolute_hours * 60
    while elapsed + step < limit:
        clock.advance(minutes=step)
        elapsed += step
        assert api_status(client, sid) == 200, f"refused after {elapsed} minutes"
        session.commit()
    clock.advance(minutes=limit - elapsed + 1)
    assert api_status(client, sid) == 401


@pytest.mark.usefixtures("moderator")
def test_revoking_every_session_of_an_account(client: FlaskClient, session: Session) -> None:
    assert login(client).status_code == 303
    sid = cookie(client)
    assert sid
    account = accounts.find_moderator(session, EMAIL)
    assert account is not None
    accounts.set_password(session, account, "another long enough password")
    session.commit()
    assert api_status(client, sid) == 401


@pytest.mark.parametrize(
    "spoil",
    [
        lambda s, row_id: accounts.revoke_token(s, row_id),
    ],
    ids=["revoked"],
)
def test_revoked_tokens_are_refused(
    client: FlaskClient,
    session: Session,
    site: Site,
    spoil: Callable[[Session, int], object],
) -> None:
    issued = accounts.create_token(session, site, Role.ADMIN, label="t")
    session.commit()
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get(QUEUE_API, headers=headers).status_code == 200
    spoil(session, issued.row_id)
    session.commit()
    for path in (QUEUE_API, "/api/v1/sites/gazette/webhooks"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.get_json()["error"] == "not_authenticated"
    assert client.get("/moderation/gazette/", headers=headers).status_code == 303
    # Akismet-compatible API: the same token is refused there too.
    answer = client.post("/1.1/verify-key", data={"api_key": issued.secret, "blog": "x"})
    assert answer.get_data(as_text=True) == "invalid"


def test_tokens_in_the_query_string_are_not_credentials(
    client: FlaskClient, session: Session, site: Site
) -> None:
    issued = accounts.create_token(session, site, Role.ADMIN, label="t")
    session.commit()
    for name in ("token", "access_token", "api_key"):
        assert client.get(f"{QUEUE_API}?{name}={issued.secret}").status_code in {401, 422}
