"""`replyguard backtest INPUT.csv`: decide a CSV of comments offline with the worker's
pipeline (core.backtest), one JSON line per row, and a summary on stderr.

Exit codes: 0 done; 2 bad input (unreadable or non-UTF-8 file, no text column, a
malformed row: the message names it) or an unknown --site. Rows before a bad row have
already been written.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

import click


class BadInput(click.ClickException):
    """A problem with what the user handed in: exit code 2, like click's usage errors."""

    exit_code = 2


def _site_settings(site_key: str) -> tuple[int, dict[str, Any], Any]:
    """The site's id, policy and classifiers from REPLYGUARD_DATABASE_URL."""
    from core.classify.registry import classifiers_for
    from core.config import Settings
    from core.errors import SiteNotFound
    from core.sites import get_site, site_policy
    from models.db import make_engine, make_sessionmaker, read_only, session_scope

    engine = make_engine(Settings.from_env().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            try:
                site = get_site(read_only(session), site_key)
            except SiteNotFound:
                raise BadInput(f"no site {site_key!r}") from None
            return site.id, site_policy(site), _loaded(lambda: classifiers_for(session, site.id))
    finally:
        engine.dispose()


def _loaded(load: Any) -> Any:
    """The classifiers, or None when the model files cannot be read: the classifier
    checks then hold every row for a human, as the worker would."""
    from core.classify.linear import ModelFileError

    try:
        return load()
    except ModelFileError as exc:
        click.echo(f"warning: classifiers unavailable ({exc}); rows will be held", err=True)
        return None


def _open_input(path: str) -> IO[bytes]:
    try:
        return sys.stdin.buffer if path == "-" else open(path, "rb")  # closed by the caller
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from exc


@click.command("backtest")
@click.argument("input_csv", metavar="INPUT.csv", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--site", "site_key", default=None, help="Use this site's policy (from the database)."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="Write the JSON lines here (default: standard output).",
)
@click.option("--text-column", default=None, help="Column with the comment text.")
@click.option("--label-column", default=None, help="Column with the label.")
@click.option("--id-column", default=None, help="Column with the row id.")
@click.option("--no-progress", is_flag=True, help="No progress bar (also off when not a TTY).")
def backtest(
    input_csv: str,
    site_key: str | None,
    output: str,
    text_column: str | None,
    label_column: str | None,
    id_column: str | None,
    no_progress: bool,
) -> None:
    """Decide every comment of INPUT.csv with the moderation pipeline, offline.

    Rows are decided in file order, as the worker would decide them one after another:
    flood, duplicate and author-trust checks see the earlier rows. Nothing is written to
    the database; emails and IPs only live in memory, as keyed hashes.

    \b
    Columns (header row required, names in any case):
      text | comment | content  the comment (required; or --text-column)
      id | comment_id           echoed in the output (default: row number)
      author | name             the author's name
      email                     identifies the author (else the author name does)
      website, ip               optional, as a submission would carry them
      date                      ISO 8601 or Unix seconds (default: rows 10 s apart)
      label | class             spam/ham, 1/0, true/false, toxic/ok (optional)

    \b
    Output: one JSON object per row,
      {"id": ..., "decision": "approve|hold|reject|spam",
       "reasons": ["check: reason", ...], "scores": {"check": score, ...}}
    reasons lists every check that objected; scores every check that gave an opinion.
    A summary goes to stderr: decisions, and with labels a confusion matrix with spam
    precision and recall, and the throughput.

    Without --site the default policy applies; with it, that site's policy from
    REPLYGUARD_DATABASE_URL.
    """
    from tqdm import tqdm

    from core.backtest import (
        Backtester,
        BacktestInputError,
        Summary,
        read_rows,
        utf8_lines,
    )
    from core.classify.registry import default_classifiers
    from core.sites import DEFAULT_POLICY

    if site_key:
        site_id, policy, classifiers = _site_settings(site_key)
    else:
        site_id, policy, classifiers = None, dict(DEFAULT_POLICY), _loaded(default_classifiers)
    backtester = Backtester(policy=policy, site_id=site_id, classifiers=classifiers)
    summary = Summary()
    overrides = {"text": text_column, "label": label_column, "id": id_column}
    started = time.perf_counter()
    source = _open_input(input_csv)
    try:
        rows = read_rows(utf8_lines(source), overrides)
        with click.open_file(output, "w", encoding="utf-8") as sink:
            progress = tqdm(
                rows,
                file=sys.stderr,
                unit=" rows",
                mininterval=0.5,
                disable=no_progress or not sys.stderr.isatty(),
            )
            for row in progress:
                result = backtester.decide(row)
                sink.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
                summary.add(row, result)
    except BacktestInputError as exc:
        raise BadInput(f"{input_csv}: {exc}") from exc
    finally:
        if input_csv != "-":
            source.close()
    click.echo(summary.render(time.perf_counter() - started), err=True)
