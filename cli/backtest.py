"""`replyguard backtest INPUT`: decide a file of comments (csv, sms, JSON lines) or a
toxic-spans folder offline with the worker's pipeline (core.backtest), one JSON line per
row, and a summary on stderr.

Exit codes: 0 done; 2 bad input (unreadable or non-UTF-8 file, no text column, a
malformed row or JSON line, an incomplete folder: the message names it) or an unknown
--site. Rows before a bad row have already been written.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
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
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True))
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
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["auto", "csv", "sms", "jsonl", "toxic-spans"]),
    default="auto",
    show_default=True,
    help="How to read INPUT (auto: from the first line, or a folder's files).",
)
@click.option("--text-column", default=None, help="Column (or JSON field) with the text.")
@click.option("--label-column", default=None, help="Column (or JSON field) with the label.")
@click.option("--id-column", default=None, help="Column (or JSON field) with the row id.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many rows (a quick look at a big file).",
)
@click.option(
    "--label-names",
    type=click.Choice(["auto", "spam", "toxic"]),
    default="auto",
    show_default=True,
    help="Call the label classes spam/ham or toxic/ok in the summary (auto: from the input).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (also off when not a TTY).")
def backtest(
    input_path: str,
    site_key: str | None,
    output: str,
    input_format: str,
    text_column: str | None,
    label_column: str | None,
    id_column: str | None,
    limit: int | None,
    label_names: str,
    no_progress: bool,
) -> None:
    """Decide every comment of INPUT with the moderation pipeline, offline.

    Rows are decided in file order, as the worker would decide them one after another:
    flood, duplicate and author-trust checks see the earlier rows. Nothing is written to
    the database; emails and IPs only live in memory, as keyed hashes.

    \b
    Formats (--format, default auto):
      csv          a header row, then one comment per record (the columns below)
      sms          ham<TAB>text / spam<TAB>text lines (UCI SMS Spam Collection)
      jsonl        one JSON object per line, fields named as the columns below
                   (and `user` for the author)
      toxic-spans  a folder with comments.csv, annotations.csv and spans.csv (Civil
                   Comments toxic spans): toxic unless half its annotators said not
    auto reads a folder as toxic-spans, a first line starting ham<TAB> or spam<TAB> as
    sms, a first non-blank character { as jsonl, anything else as csv.

    \b
    Columns (names in any case):
      text | comment | content | comment_text | tweet
                                the comment (required; or --text-column)
      id | comment_id           echoed in the output (default: row number)
      author | name             the author's name
      email                     identifies the author (else the author name does)
      website, ip               optional, as a submission would carry them
      date                      ISO 8601 or Unix seconds (default: rows 10 s apart)
      label | class | is_toxic_popular_answer_1 | toxic
                                spam/ham, 1/0, true/false, toxic/ok (optional);
                                Davidson's class (with hate_speech and
                                offensive_language): 0, 1 toxic, 2 not; SFU's
                                is_toxic_popular_answer_1: toxic from 2

    \b
    Output: one JSON object per row,
      {"id": ..., "decision": "approve|hold|reject|spam",
       "reasons": ["check: reason", ...], "scores": {"check": score, ...}}
    reasons lists every check that objected; scores every check that gave an opinion.
    A summary goes to stderr: decisions, and with labels a confusion matrix with
    precision and recall, and the throughput.

    Without --site the default policy applies; with it, that site's policy from
    REPLYGUARD_DATABASE_URL. See docs/backtest.md.
    """
    from tqdm import tqdm

    from core.backtest import (
        SPAM_NAMES,
        TOXIC_NAMES,
        Backtester,
        BacktestInputError,
        InputRow,
        Summary,
        read_input,
        read_toxic_spans_folder,
        utf8_lines,
    )
    from core.classify.registry import default_classifiers
    from core.sites import DEFAULT_POLICY

    folder = input_path != "-" and Path(input_path).is_dir()
    if folder and input_format not in ("auto", "toxic-spans"):
        raise BadInput(f"{input_path}: a folder; --format {input_format} reads a file")
    if site_key:
        site_id, policy, classifiers = _site_settings(site_key)
    else:
        site_id, policy, classifiers = None, dict(DEFAULT_POLICY), _loaded(default_classifiers)
    backtester = Backtester(policy=policy, site_id=site_id, classifiers=classifiers)
    names = {"spam": SPAM_NAMES, "toxic": TOXIC_NAMES}.get(label_names)
    summary = Summary(names=names)
    overrides = {"text": text_column, "label": label_column, "id": id_column}
    started = time.perf_counter()
    source = None if folder else _open_input(input_path)
    try:
        rows: Iterator[InputRow]
        if source is None:
            rows = read_toxic_spans_folder(Path(input_path), overrides)
        else:
            rows = read_input(utf8_lines(source), overrides, input_format)
        with click.open_file(output, "w", encoding="utf-8") as sink:
            progress = tqdm(
                itertools.islice(rows, limit),
                file=sys.stderr,
                unit=" rows",
                total=limit,
                mininterval=0.5,
                disable=no_progress or not sys.stderr.isatty(),
            )
            for row, result in backtester.decide_all(progress):
                sink.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
                summary.add(row, result)
    except BacktestInputError as exc:
        raise BadInput(f"{input_path}: {exc}") from exc
    finally:
        if source is not None and input_path != "-":
            source.close()
    for note in backtester.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(summary.render(time.perf_counter() - started), err=True)
    if limit is not None and summary.rows == limit:
        click.echo(f"(stopped at --limit {limit}: later rows were not read)", err=True)
