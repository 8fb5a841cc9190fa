"""Moderator accounts, logins (throttled), revocable web sessions and API tokens.

Secrets handed to clients (session cookies, API tokens) are 32 random bytes; only their
SHA-256 is stored, so reading the database does not let anyone in. Failed logins are
counted in the database per account and per client address (its blind index), so every
API process enforces the same limit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from core.access import Principal
from core.config import Settings
from core.errors import InvalidCredentials, InvalidSetting, LoginThrottled, NotAuthenticated
from core.passwords import hash_password, needs_rehash, password_problem, verify_password
from models import ApiToken, LoginAttempt, Membership, Moderator, Role, Site, WebSession
from models.base import utcnow

TOKEN_PREFIX = "rgt_"  # noqa: S105  (a public marker, not a secret)
# A session's last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = dt.timedelta(minutes=1)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def normalise_login(email: str) -> str:
    return email.strip().lower()


def create_moderator(
    session: Session, email: str, password: str, *, display_name: str | None = None
) -> Moderator:
    """A new account (InvalidSetting if the email is taken or the password too weak)."""
    login = normalise_login(email)
    if "@" not in login or len(login) > 254:
        raise InvalidSetting("not an email address", fields={"email": ["not an email address"]})
    problem = password_problem(password)
    if problem:
        raise InvalidSetting(f"password refused: {problem}", fields={"password": [problem]})
    if session.scalar(select(Moderator.id).where(Moderator.email == login)) is not None:
        raise InvalidSetting("an account with this email exists", fields={"email": ["taken"]})
    moderator = Moderator(
        email=login,
        display_name=(display_name or login.split("@")[0])[:100],
        password_hash=hash_password(password),
    )
    session.add(moderator)
    session.flush()
    return moderator


def find_moderator(session: Session, email: str) -> Moderator | None:
    return session.scalar(select(Moderator).where(Moderator.email == normalise_login(email)))


def grant(session: Session, moderator: Moderator, site: Site, role: Role) -> Membership:
    """Give (or change) the moderator's role on the site."""
    membership = session.scalar(
        select(Membership).where(
            Membership.moderator_id == moderator.id, Membership.site_id == site.id
        )
    )
    if membership is None:
        membership = Membership(moderator_id=moderator.id, site_id=site.id, role=role)
        session.add(membership)
    else:
        membership.role = role
    session.flush()
    return membership


def roles_of(session: Session, moderator_id: int) -> dict[int, Role]:
    rows = session.execute(
        select(Membership.site_id, Membership.role).where(Membership.moderator_id == moderator_id)
    )
    return {site_id: role for site_id, role in rows}


def _throttle(session: Session, login: str, ip_index: bytes | None, settings: Settings) -> None:
    since = utcnow() - dt.timedelta(minutes=settings.login_window_minutes)
    failed = (LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at >= since)
    by_account = session.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.email == login, *failed)
    )
    by_ip = 0
    if ip_index is not None:
        by_ip = (
            session.scalar(
                select(func.count())
                .select_from(LoginAttempt)
                .where(LoginAttempt.ip_index == ip_index, *failed)
            )
            or 0
        )
    blocking = []
    if (by_account or 0) >= settings.login_failures_per_account:
        blocking.append(LoginAttempt.email == login)
    if by_ip >= settings.login_failures_per_ip:
        blocking.append(LoginAttempt.ip_index == ip_index)
    if blocking:
        # Logins open again when the oldest counted failure leaves the window.
        oldest = session.scalar(
            select(func.min(LoginAttempt.attempted_at)).where(or_(*blocking), *failed)
        )
        reopens = (oldest or utcnow()) + dt.timedelta(minutes=settings.login_window_minutes)
        raise LoginThrottled(
            "Too many failed logins; try again later.",
            retry_after=max(1, int((reopens - utcnow()).total_seconds()) + 1),
        )


def authenticate(
    session: Session, email: str, password: str, *, ip_index: bytes | None, settings: Settings
) -> Moderator:
    """The account for a correct email and password. Every attempt is recorded (the caller
    commits even on failure so the count sticks); LoginThrottled once too many failed."""
    login = normalise_login(email)[:254]
    _throttle(session, login, ip_index, settings)
    moderator = find_moderator(session, login)
    ok = verify_password(moderator.password_hash if moderator else None, password)
    ok = ok and moderator is not None and not moderator.disabled
    session.add(LoginAttempt(email=login, ip_index=ip_index, succeeded=ok))
    if not ok or moderator is None:
        raise InvalidCredentials("Unknown email or wrong password.")
    if needs_rehash(moderator.password_hash):
        moderator.password_hash = hash_password(password)
    moderator.last_login_at = utcnow()
    return moderator


def set_password(session: Session, moderator: Moderator, password: str) -> None:
    """Change the password and end every session of the account."""
    problem = password_problem(password)
    if problem:
        raise InvalidSetting(f"password refused: {problem}", fields={"password": [problem]})
    moderator.password_hash = hash_password(password)
    revoke_sessions(session, moderator.id)


@dataclass(frozen=True)
class IssuedSecret:
    """A secret shown to its owner exactly once, with the row that stores its hash."""

    secret: str
    row_id: int


def start_session(session: Session, moderator: Moderator, *, user_agent: str | None) -> str:
    """A new session id (the cookie value). A fresh id at every login: nothing a visitor
    held before logging in can become a logged-in session."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=_digest(token),
            moderator_id=moderator.id,
            created_at=now,
            last_seen_at=now,
            user_agent=(user_agent or "")[:500] or None,
        )
    )
    session.flush()
    return token


def resolve_session(session: Session, token: str, settings: Settings) -> Principal:
    """The principal behind a session cookie; NotAuthenticated when it is unknown, revoked,
    idle too long or past its absolute lifetime. Only reads: `activity_due` tells the caller
    to refresh the idle timer with record_activity (at most once a minute)."""
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or row.moderator.disabled
        or now - row.last_seen_at > dt.timedelta(minutes=settings.session_idle_minutes)
        or now - row.created_at > dt.timedelta(hours=settings.session_absolute_hours)
    ):
        raise NotAuthenticated("Your session has ended; please log in again.")
    return Principal(
        actor=f"moderator:{row.moderator_id}",
        name=row.moderator.display_name,
        roles=roles_of(session, row.moderator_id),
        moderator_id=row.moderator_id,
        session_id=row.id,
        activity_due=now - row.last_seen_at > TOUCH_EVERY,
    )


def record_activity(session: Session, principal: Principal) -> None:
    """Refresh the session's idle timer or the token's last use (the caller commits)."""
    now = utcnow()
    if principal.session_id is not None:
        session.execute(
            update(WebSession).where(WebSession.id == principal.session_id).values(last_seen_at=now)
        )
    elif principal.token_id is not None:
        session.execute(
            update(ApiToken).where(ApiToken.id == principal.token_id).values(last_used_at=now)
        )


def end_session(session: Session, token: str) -> None:
    """Log out: the session can never be used again."""
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == _digest(token), WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_sessions(session: Session, moderator_id: int) -> int:
    """End every session of an account (password change, compromise); how many ended."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.moderator_id == moderator_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def create_token(session: Session, site: Site, role: Role, *, label: str = "") -> IssuedSecret:
    """A new API token for one site and role; the plaintext is returned once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=_digest(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        site_id=site.id,
        role=role,
        label=label[:100],
    )
    session.add(row)
    session.flush()
    return IssuedSecret(token, row.id)


def resolve_token(session: Session, token: str) -> Principal:
    """The principal behind `Authorization: Bearer <token>`; NotAuthenticated otherwise.
    Only reads; `activity_due` asks for record_activity (the token's last use)."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None:
        raise NotAuthenticated("Unknown or revoked API token.")
    label = f" ({row.label})" if row.label else ""
    return Principal(
        actor=f"token:{row.id}",
        name=f"API token {row.prefix}…{label}",
        roles={row.site_id: row.role},
        token_id=row.id,
        activity_due=row.last_used_at is None or utcnow() - row.last_used_at > TOUCH_EVERY,
    )


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token by id; False when it does not exist or was already revoked."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class Pruned:
    login_attempts: int
    sessions: int


def prune(session: Session, settings: Settings) -> Pruned:
    """Delete login attempts older than the throttling window and sessions that can no
    longer be used (revoked, idle or past their lifetime) a day after they ended."""
    now = utcnow()
    old_attempts = now - dt.timedelta(minutes=settings.login_window_minutes)
    grace = dt.timedelta(days=1)
    attempts = session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < old_attempts))
    sessions = session.execute(
        delete(WebSession).where(
            or_(
                WebSession.revoked_at < now - grace,
                WebSession.last_seen_at
                < now - dt.timedelta(minutes=settings.session_idle_minutes) - grace,
                WebSession.created_at
                < now - dt.timedelta(hours=settings.session_absolute_hours) - grace,
            )
        )
    )
    return Pruned(
        int(getattr(attempts, "rowcount", 0) or 0), int(getattr(sessions, "rowcount", 0) or 0)
    )
