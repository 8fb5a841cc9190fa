"""`replyguard`: migrate, seed, manage sites, generate keys, and run the development stack."""

from __future__ import annotations

import sys

import click

from cli.accounts import moderators, tokens
from cli.backtest import backtest
from cli.learn import learn
from cli.privacy import privacy
from cli.train import train
from core.config import ConfigError, Settings
from core.privacy import new_key_material
from models.db import make_engine, make_sessionmaker, session_scope
from models.migrate import upgrade


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Replyguard: comment moderation for news sites.

    Configuration comes from REPLYGUARD_* environment variables (see .env.example).
    """


@main.command()
def migrate() -> None:
    """Apply database migrations (safe to run repeatedly)."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo("database is at the newest schema")


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Create the `demo` site if it does not exist; add REPLYGUARD_DEMO_ORIGINS to it."""
    from core.sites import seed_demo

    settings = Settings.from_env()
    with session_scope(make_sessionmaker(make_engine(settings.database_url))) as session:
        site = seed_demo(session, settings.demo_origins.split(","))
        click.echo(f"site {site.key!r} ready; allowed origins: {', '.join(site.allowed_origins)}")


@main.command("add-site")
@click.argument("key")
@click.option("--name", required=True, help="Display name of the site.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="Allowed origin, e.g. https://news.example (repeatable).",
)
def add_site(key: str, name: str, origins: tuple[str, ...]) -> None:
    """Register a site that may embed the comment form."""
    from core.sites import ensure_site, origin_of

    bad = [o for o in origins if origin_of(o) != o.lower().rstrip("/")]
    if bad:
        raise click.BadParameter(f"not a bare origin (scheme://host[:port]): {', '.join(bad)}")
    settings = Settings.from_env()
    with session_scope(make_sessionmaker(make_engine(settings.database_url))) as session:
        site = ensure_site(
            session, key, name=name, allowed_origins=[o.rstrip("/") for o in origins]
        )
        click.echo(f"site {site.key!r} (id {site.id})")


@main.command("generate-keys")
def generate_keys() -> None:
    """Print fresh production keys as environment assignments (store them in a secret store)."""
    import secrets

    click.echo(f"REPLYGUARD_SECRET_KEY={secrets.token_urlsafe(32)}")
    click.echo(f"REPLYGUARD_EMAIL_KEYS=k1:{new_key_material()}")
    click.echo(f"REPLYGUARD_INDEX_KEY={new_key_material()}")


@main.command()
@click.option("--port", type=int, default=None, help="API port (default: $PORT or 8000).")
@click.option(
    "--workers", "web_workers", type=int, default=2, show_default=True, help="gunicorn workers."
)
@click.option(
    "--concurrency",
    type=int,
    default=1,
    show_default=True,
    help="Celery worker processes (SQLite takes one writer at a time; more help on PostgreSQL).",
)
def run(port: int | None, web_workers: int, concurrency: int) -> None:
    """Run the whole service on the embedded default: SQLite, an embedded Redis, a Celery
    worker and beat, and the API under gunicorn. Ctrl-C stops every process."""
    from cli.devstack import DevStack

    settings = Settings.from_env()
    try:
        stack = DevStack(
            settings, port=port or settings.port, web_workers=web_workers, concurrency=concurrency
        )
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(stack.run())


main.add_command(moderators)
main.add_command(tokens)
main.add_command(backtest)
main.add_command(train)
main.add_command(learn)
main.add_command(privacy)


if __name__ == "__main__":
    main()
