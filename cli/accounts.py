"""`replyguard moderators …` and `replyguard tokens …`: accounts, roles and API tokens.

Secrets are shown exactly once (a token) or never echoed (a password, read from a prompt
or from standard input with `--password-stdin` for scripts)."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import accounts
from core.config import Settings
from core.errors import InvalidSetting, SiteNotFound
from core.sites import get_site
from models import ApiToken, Membership, Moderator, Role, Site
from models.db import make_engine, make_sessionmaker, session_scope

ROLE_CHOICE = click.Choice([r.value for r in Role])


def _sessions() -> AbstractContextManager[Session]:
    settings = Settings.from_env()
    return session_scope(make_sessionmaker(make_engine(settings.database_url)))


def _site(session: Session, key: str) -> Site:
    try:
        return get_site(session, key)
    except SiteNotFound:
        raise click.ClickException(
            f"no site {key!r} (create it with `replyguard add-site`)"
        ) from None


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group("moderators")
def moderators() -> None:
    """Moderator accounts and their roles per site."""


@moderators.command("create")
@click.option("--site", "site_key", required=True, help="Site the role applies to, e.g. demo.")
@click.option("--role", type=ROLE_CHOICE, required=True, help="admin, moderator or viewer.")
@click.option("--email", required=True, help="Login email of the moderator.")
@click.option("--name", default=None, help="Display name (default: the email's local part).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
def create(site_key: str, role: str, email: str, name: str | None, password_stdin: bool) -> None:
    """Create an account with a role on a site (or add the role to an existing account)."""
    with _sessions() as session:
        site = _site(session, site_key)
        moderator = accounts.find_moderator(session, email)
        if moderator is None:
            password = _read_password(password_stdin)
            try:
                moderator = accounts.create_moderator(session, email, password, display_name=name)
            except InvalidSetting as exc:
                raise click.ClickException(exc.message) from exc
            verb = "created"
        else:
            verb = "updated"
        accounts.grant(session, moderator, site, Role(role))
        click.echo(f"{verb} {moderator.email}: {role} on {site.key}")


@moderators.command("grant")
@click.option("--site", "site_key", required=True)
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--email", required=True)
def grant(site_key: str, role: str, email: str) -> None:
    """Give an existing account a role on a site (or change it)."""
    with _sessions() as session:
        site = _site(session, site_key)
        moderator = accounts.find_moderator(session, email)
        if moderator is None:
            raise click.ClickException(f"no account {email!r}")
        accounts.grant(session, moderator, site, Role(role))
        click.echo(f"{moderator.email}: {role} on {site.key}")


@moderators.command("list")
def list_moderators() -> None:
    """Every account with its roles."""
    with _sessions() as session:
        rows = session.execute(
            select(Moderator.email, Moderator.disabled, Site.key, Membership.role)
            .outerjoin(Membership, Membership.moderator_id == Moderator.id)
            .outerjoin(Site, Site.id == Membership.site_id)
            .order_by(Moderator.email, Site.key)
        )
        for email, disabled, site_key, role in rows:
            state = " (disabled)" if disabled else ""
            where = f"{role.value} on {site_key}" if site_key else "no role"
            click.echo(f"{email}{state}: {where}")


@moderators.command("set-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(email: str, password_stdin: bool) -> None:
    """Change an account's password; every session of the account ends."""
    with _sessions() as session:
        moderator = accounts.find_moderator(session, email)
        if moderator is None:
            raise click.ClickException(f"no account {email!r}")
        try:
            accounts.set_password(session, moderator, _read_password(password_stdin))
        except InvalidSetting as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"password changed for {moderator.email}; its sessions were ended")


@moderators.command("disable")
@click.option("--email", required=True)
def disable(email: str) -> None:
    """Lock an account out: it cannot log in and its sessions end."""
    with _sessions() as session:
        moderator = accounts.find_moderator(session, email)
        if moderator is None:
            raise click.ClickException(f"no account {email!r}")
        moderator.disabled = True
        ended = accounts.revoke_sessions(session, moderator.id)
        click.echo(f"{moderator.email} disabled; {ended} session(s) ended")


@moderators.command("revoke-sessions")
@click.option("--email", required=True)
def revoke_sessions(email: str) -> None:
    """Log an account out everywhere."""
    with _sessions() as session:
        moderator = accounts.find_moderator(session, email)
        if moderator is None:
            raise click.ClickException(f"no account {email!r}")
        click.echo(f"{accounts.revoke_sessions(session, moderator.id)} session(s) ended")


@click.group("tokens")
def tokens() -> None:
    """API tokens for automation (`Authorization: Bearer <token>`)."""


@tokens.command("create")
@click.option("--site", "site_key", required=True, help="The one site the token works on.")
@click.option("--role", type=ROLE_CHOICE, required=True, help="admin, moderator or viewer.")
@click.option("--label", default="", help="What the token is for, shown in `tokens list`.")
def create_token(site_key: str, role: str, label: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    with _sessions() as session:
        site = _site(session, site_key)
        issued = accounts.create_token(session, site, Role(role), label=label)
    click.echo(issued.secret)
    click.echo(
        f"token {issued.row_id}: {role} on {site_key}. Store it now; it is not shown again.",
        err=True,
    )


@tokens.command("list")
@click.option("--site", "site_key", default=None, help="Only this site's tokens.")
def list_tokens(site_key: str | None) -> None:
    """Tokens with their id, prefix, site, role, label and last use (never the secret)."""
    with _sessions() as session:
        query = select(ApiToken, Site.key).join(Site, Site.id == ApiToken.site_id)
        if site_key:
            query = query.where(Site.key == site_key)
        for token, key in session.execute(query.order_by(ApiToken.id)):
            state = "revoked" if token.revoked_at else "active"
            used = (
                token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
            )
            click.echo(
                f"{token.id}\t{token.prefix}…\t{key}\t{token.role.value}\t{state}\t"
                f"last used {used}\t{token.label}"
            )


@tokens.command("revoke")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke a token by its id (from `tokens list`)."""
    with _sessions() as session:
        if not accounts.revoke_token(session, token_id):
            raise click.ClickException(f"no active token {token_id}")
    click.echo(f"token {token_id} revoked")
