"""Accounts: argon2id hashes, throttled logins, revocable sessions with timeouts, API tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core import accounts
from core.config import Settings
from core.errors import InvalidCredentials, InvalidSetting, LoginThrottled, NotAuthenticated
from models import ApiToken, LoginAttempt, Role, Site, WebSession
from tests.support.moderation import PASSWORD, moderator


def test_passwords_are_stored_as_argon2id_only(session: Session, site: Site) -> None:
    account = moderator(session, site, Role.ADMIN, "Ed@Example.org")
    assert account.email == "ed@example.org"
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    with pytest.raises(InvalidSetting):
        accounts.create_moderator(session, "other@example.org", "short")
    with pytest.raises(InvalidSetting):
        accounts.create_moderator(session, "ED@example.org", PASSWORD)


def test_login_checks_the_password_and_records_every_attempt(
    session: Session, site: Site, settings: Settings
) -> None:
    moderator(session, site, Role.MODERATOR, "mo@example.org")
    with pytest.raises(InvalidCredentials):
        accounts.authenticate(session, "mo@example.org", "wrong", ip_index=None, settings=settings)
    with pytest.raises(InvalidCredentials):  # same answer for an unknown account
        accounts.authenticate(
            session, "nobody@example.org", PASSWORD, ip_index=None, settings=settings
        )
    account = accounts.authenticate(
        session, " MO@example.org ", PASSWORD, ip_index=None, settings=settings
    )
    assert account.last_login_at is not None


def test_logins_are_throttled_per_account_and_per_address(
    session: Session, site: Site, settings: Settings
) -> None:
    tight = settings.with_overrides(login_failures_per_account=3, login_failures_per_ip=5)
    moderator(session, site, Role.MODERATOR, "victim@example.org")
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            accounts.authenticate(
                session, "victim@example.org", "guess", ip_index=b"a" * 32, settings=tight
            )
    session.commit()
    with pytest.raises(LoginThrottled) as throttled:  # even the right password now waits
        accounts.authenticate(
            session, "victim@example.org", PASSWORD, ip_index=b"b" * 32, settings=tight
        )
    # Open again when the oldest counted failure (seconds old) leaves the window.
    assert 0.9 * 60 * tight.login_window_minutes < throttled.value.retry_after
    assert throttled.value.retry_after <= 60 * tight.login_window_minutes + 1
    # One address spraying many accounts is stopped too.
    for n in range(2):
        with pytest.raises(InvalidCredentials):
            accounts.authenticate(
                session, f"x{n}@example.org", "guess", ip_index=b"a" * 32, settings=tight
            )
    with pytest.raises(LoginThrottled):
        accounts.authenticate(
            session, "x9@example.org", "guess", ip_index=b"a" * 32, settings=tight
        )


def test_sessions_end_on_logout_idle_absolute_limit_and_revocation(
    session: Session, site: Site, settings: Settings
) -> None:
    account = moderator(session, site, Role.VIEWER, "s@example.org")
    first = accounts.start_session(session, account, user_agent="t")
    second = accounts.start_session(session, account, user_agent="t")
    assert first != second  # a new id at every login
    principal = accounts.resolve_session(session, first, settings)
    assert (
        principal.roles == {site.id: Role.VIEWER} and principal.actor == f"moderator:{account.id}"
    )
    stored = session.scalars(select(WebSession.token_hash)).all()
    assert all(first.encode() not in h and len(h) == 32 for h in stored)

    accounts.end_session(session, first)
    with pytest.raises(NotAuthenticated):
        accounts.resolve_session(session, first, settings)

    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=settings.session_idle_minutes + 1)
    session.execute(update(WebSession).values(last_seen_at=old))
    with pytest.raises(NotAuthenticated):
        accounts.resolve_session(session, second, settings)

    third = accounts.start_session(session, account, user_agent=None)
    ancient = dt.datetime.now(dt.UTC) - dt.timedelta(hours=settings.session_absolute_hours + 1)
    session.execute(
        update(WebSession)
        .where(WebSession.revoked_at.is_(None))
        .values(created_at=ancient, last_seen_at=dt.datetime.now(dt.UTC))
    )
    with pytest.raises(NotAuthenticated):
        accounts.resolve_session(session, third, settings)

    fourth = accounts.start_session(session, account, user_agent=None)
    assert accounts.revoke_sessions(session, account.id) >= 1
    with pytest.raises(NotAuthenticated):
        accounts.resolve_session(session, fourth, settings)


def test_api_tokens_store_only_a_hash_and_can_be_revoked(session: Session, site: Site) -> None:
    issued = accounts.create_token(session, site, Role.ADMIN, label="ci")
    assert issued.secret.startswith("rgt_") and len(issued.secret) > 40
    row = session.get(ApiToken, issued.row_id)
    assert row is not None and issued.secret.encode() not in row.token_hash
    principal = accounts.resolve_token(session, issued.secret)
    assert principal.roles == {site.id: Role.ADMIN} and principal.actor == f"token:{row.id}"
    assert accounts.revoke_token(session, issued.row_id)
    assert not accounts.revoke_token(session, issued.row_id)
    with pytest.raises(NotAuthenticated):
        accounts.resolve_token(session, issued.secret)


def test_prune_removes_old_attempts_and_dead_sessions_only(
    session: Session, site: Site, settings: Settings
) -> None:
    account = moderator(session, site, Role.VIEWER, "p@example.org")
    live = accounts.start_session(session, account, user_agent=None)
    dead = accounts.start_session(session, account, user_agent=None)
    accounts.end_session(session, dead)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    session.execute(
        update(WebSession).where(WebSession.revoked_at.is_not(None)).values(revoked_at=long_ago)
    )
    with pytest.raises(InvalidCredentials):
        accounts.authenticate(session, "p@example.org", "nope", ip_index=None, settings=settings)
    session.execute(update(LoginAttempt).values(attempted_at=long_ago))
    with pytest.raises(InvalidCredentials):  # a fresh attempt stays
        accounts.authenticate(session, "p@example.org", "nope", ip_index=None, settings=settings)
    pruned = accounts.prune(session, settings)
    assert (pruned.login_attempts, pruned.sessions) == (1, 1)
    assert accounts.resolve_session(session, live, settings).moderator_id == account.id
    assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 1
