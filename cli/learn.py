"""`replyguard learn`: fine-tune sites' models from their moderators' decisions now,
instead of waiting for the hourly beat task."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--site", "site_key", default=None, help="Only this site (default: every site with new labels)."
)
@click.option("--force", is_flag=True, help="Retrain even without new labels.")
@click.option(
    "--min-labels", default=None, type=click.IntRange(2), help="Labels needed [default: 10]."
)
def learn(site_key: str | None, force: bool, min_labels: int | None) -> None:
    """Fine-tune the spam and toxicity models of sites from their moderators' labels."""
    from core import learning
    from core.config import Settings
    from core.errors import SiteNotFound
    from core.sites import get_site
    from models.db import make_engine, make_sessionmaker, session_scope

    engine = make_engine(Settings.from_env().database_url)
    factory = make_sessionmaker(engine)
    try:
        with session_scope(factory) as session:
            if site_key:
                try:
                    site_ids = [get_site(session, site_key).id]
                except SiteNotFound:
                    raise click.BadParameter(f"no site {site_key!r}", param_hint="--site") from None
            else:
                site_ids = learning.sites_with_new_labels(session)
        if not site_ids:
            click.echo("no site has new labels")
        for site_id in site_ids:
            with session_scope(factory) as session:
                results = learning.learn_site(
                    session,
                    site_id,
                    force=force or bool(site_key),
                    min_labels=min_labels or learning.MIN_LABELS,
                )
            for r in results:
                state = "trained" if r.trained else f"skipped: {r.why}"
                click.echo(
                    f"site {site_id} {r.kind}: {r.labels_used} labels "
                    f"({r.positives} positive), {state}"
                )
    finally:
        engine.dispose()
