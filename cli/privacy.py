"""`replyguard privacy …`: GDPR export and erase by email, encryption key rotation and IP
retention (docs/privacy.md).

The email is read from `--email` and used only to compute its blind index; nothing this
command prints or writes contains it. Erase and rotate-keys commit after every batch, so
Ctrl-C (or a crash) loses at most one batch of work and a second run continues."""

from __future__ import annotations

import getpass
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from core import gdpr, keyrotation, retention
from core.access import Principal
from core.config import ConfigError, Settings
from core.devkeys import with_dev_keys
from core.errors import SiteNotFound
from core.privacy import PrivacyVault
from core.sites import get_site
from models import Site
from models.base import utcnow
from models.db import make_engine, make_sessionmaker


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session the command commits itself (batch by batch); rolled back on error."""
    engine = make_engine(settings.database_url, application_name="replyguard-cli")
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        engine.dispose()


def _settings_and_vault() -> tuple[Settings, PrivacyVault]:
    settings = Settings.from_env()
    try:
        settings.check_production_safety()
        settings = with_dev_keys(settings)
        return settings, PrivacyVault(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _site(session: Session, key: str) -> Site:
    try:
        return get_site(session, key)
    except SiteNotFound:
        raise click.ClickException(f"no site {key!r}") from None


def _principal() -> Principal:
    """Who the audit log names for a command-line action: the operating-system user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Principal(actor=f"cli:{user}"[:100], name=f"{user} (command line)")


@click.group("privacy")
def privacy() -> None:
    """GDPR export and erase by email, key rotation, IP retention."""


@privacy.command("export")
@click.option("--site", "site_key", required=True, help="Site key, e.g. demo.")
@click.option("--email", required=True, help="The data subject's email (any letter case).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the JSON here (default: standard output).",
)
@click.option("--batch", "batch_size", type=click.IntRange(1), default=gdpr.BATCH_SIZE)
def export_command(site_key: str, email: str, output: Path | None, batch_size: int) -> None:
    """Every comment of that email on the site, any status, as JSON (Art. 15 and 20)."""
    settings, vault = _settings_and_vault()
    with _session(settings) as session:
        site = _site(session, site_key)
        items = gdpr.export_by_email(session, site.id, email, vault=vault, batch_size=batch_size)
        gdpr.record_export(session, site.id, _principal(), count=len(items))
    document = {
        "site": site_key,
        "generated_at": utcnow().isoformat(),
        "matched_by": "email blind index (case-insensitive)",
        "count": len(items),
        "comments": items,
    }
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"exported {len(items)} comment(s) to {output}", err=True)


@privacy.command("erase")
@click.option("--site", "site_key", required=True, help="Site key, e.g. demo.")
@click.option("--email", required=True, help="The data subject's email (any letter case).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--batch", "batch_size", type=click.IntRange(1), default=gdpr.BATCH_SIZE)
def erase_command(site_key: str, email: str, yes: bool, batch_size: int) -> None:
    """Anonymise every comment of that email on the site (Art. 17), in committed batches.
    Safe to run again: erased comments no longer match."""
    settings, vault = _settings_and_vault()
    with _session(settings) as session:
        site = _site(session, site_key)
        found = gdpr.count_by_email(session, site.id, email, vault=vault)
        if found and not yes:
            click.confirm(f"Anonymise {found} comment(s) on {site_key}?", abort=True)
        erased = 0
        started = time.monotonic()
        for batch in gdpr.erase_batches(
            session, site.id, email, _principal(), vault=vault, batch_size=batch_size
        ):
            session.commit()
            erased += len(batch.comment_ids)
        elapsed = time.monotonic() - started
    click.echo(f"erased {erased} comment(s) on {site_key} in {elapsed:.2f} s")


@privacy.command("rotate-keys")
@click.option("--batch", "batch_size", type=click.IntRange(1), default=keyrotation.BATCH_SIZE)
def rotate_keys(batch_size: int) -> None:
    """Re-encrypt emails and webhook secrets under the first key of REPLYGUARD_EMAIL_KEYS.
    Interrupt it at any time; running it again continues."""
    settings, vault = _settings_and_vault()
    key_id = keyrotation.current_key_id(vault)
    failed: list[tuple[str, int]] = []
    rotated = 0
    started = time.monotonic()
    with _session(settings) as session:
        todo = keyrotation.pending(session, vault)
        session.commit()
        with click.progressbar(
            length=todo.total, label=f"re-encrypting under {key_id}", file=sys.stderr
        ) as bar:
            for batch in keyrotation.rotate_batches(session, vault, batch_size=batch_size):
                session.commit()
                rotated += batch.rotated
                failed.extend((batch.table, row_id) for row_id in batch.failed)
                bar.update(batch.rotated + len(batch.failed))
    elapsed = time.monotonic() - started
    rate = rotated / elapsed if elapsed > 0 else 0.0
    click.echo(f"rotated {rotated} row(s) to key {key_id} in {elapsed:.2f} s ({rate:.0f} rows/s)")
    if failed:
        shown = ", ".join(f"{table} #{row_id}" for table, row_id in failed[:20])
        raise click.ClickException(
            f"{len(failed)} row(s) could not be decrypted and were left as they are: {shown}"
        )


@privacy.command("prune-ips")
@click.option(
    "--days",
    type=click.IntRange(0),
    default=None,
    help="Retention in days (default: REPLYGUARD_IP_RETENTION_DAYS; 0 keeps everything).",
)
def prune_ips(days: int | None) -> None:
    """Drop the IP index and prefix of comments older than the retention period."""
    settings = Settings.from_env()
    keep = settings.ip_retention_days if days is None else days
    if keep <= 0:
        click.echo("IP retention is off (0 days): nothing pruned")
        return
    pruned = 0
    with _session(settings) as session:
        for count in retention.prune_batches(session, keep):
            session.commit()
            pruned += count
    click.echo(f"pruned IP data of {pruned} comment(s) older than {keep} day(s)")
