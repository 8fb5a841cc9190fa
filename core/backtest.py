"""Replay comments from a CSV through the worker's pipeline, offline (`replyguard backtest`).

Contract:

- Input: a CSV with a header row (UTF-8, a BOM is fine). Column names are matched
  case-insensitively: `text` (or `comment`, `content`) is required; optional are `id` (or
  `comment_id`), `author` (or `name`), `email`, `website`, `ip`, `date` and `label` (or
  `class`). `Columns.resolve` takes overrides for the text, label and id columns. Labels:
  spam/ham, 1/0, true/false, toxic/ok, yes/no (any case); an empty cell is unlabelled.
- Each row becomes a CommentFacts like the worker's and runs through
  `run_pipeline(default_checks(), facts, ctx)` in file order, with a MemoryHistory that has
  seen every earlier row (so flood, duplicate and trust checks see them), the site's policy
  and the site's classifiers (core.classify.registry, chosen by the caller).
  submitted_at is the row's `date` (ISO 8601, or Unix seconds; without a zone it is
  UTC) or, without a date column, a synthetic clock starting at 2024-01-01T00:00:00Z
  with rows STEP (10 s) apart; a row with an empty date gets the previous row's time
  plus STEP.
- Identity without storing anything: the email blind index is HMAC-SHA256 of the
  casefolded email under a random per-run key (the author name stands in when there is no
  email; the CSV's authors are then the "authors" of the duplicate and trust checks); an
  IP becomes an HMAC index and a truncated prefix the same way. Emails and IPs are never
  written anywhere; the key dies with the run.
- A CheckUnavailable makes that row "hold" with the reason, as the worker does after its
  retries. Any other exception is a bug and propagates, naming the row.
- Output, one JSON object per row: {"id", "decision": approve|hold|reject|spam,
  "reasons": ["check: reason", ...] for every verdict that objected (not approve),
  "scores": {check: score} for every check that gave an opinion}. `id` is the id column's
  value, else the row number (1 = first row after the header).
- Memory: rows are read and written one at a time; only the history (a few hundred bytes
  per row) and the summary's counters grow.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.checks import Action, CheckContext, CheckUnavailable, default_checks, run_pipeline
from core.checks.base import Check, CommentFacts
from core.history import MemoryHistory
from core.privacy import normalise_email_for_index, truncate_ip

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=10)

ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("text", "comment", "content"),
    "id": ("id", "comment_id"),
    "author": ("author", "name"),
    "email": ("email",),
    "website": ("website",),
    "ip": ("ip",),
    "date": ("date",),
    "label": ("label", "class"),
}
POSITIVE_LABELS = frozenset({"spam", "1", "true", "toxic", "yes"})
NEGATIVE_LABELS = frozenset({"ham", "0", "false", "ok", "no"})
DECISIONS = tuple(action.value for action in Action)


class BacktestInputError(Exception):
    """The input cannot be backtested: a missing column, bad encoding, a malformed row."""


@dataclass(frozen=True)
class Columns:
    """Where each field is in the header (an index), or None when the CSV lacks it."""

    header: tuple[str, ...]
    positions: Mapping[str, int | None]

    @classmethod
    def resolve(cls, header: Sequence[str], overrides: Mapping[str, str | None]) -> Columns:
        """Match the header case-insensitively; `overrides` maps a field (text, label, id)
        to a column name that must exist."""
        lowered = [name.strip().lower() for name in header]
        positions: dict[str, int | None] = {}
        for field_name, aliases in ALIASES.items():
            wanted = overrides.get(field_name)
            if wanted:
                if wanted.strip().lower() not in lowered:
                    raise BacktestInputError(
                        f"no column {wanted!r} for the {field_name} (the header has: "
                        f"{', '.join(header)})"
                    )
                positions[field_name] = lowered.index(wanted.strip().lower())
                continue
            positions[field_name] = next(
                (lowered.index(alias) for alias in aliases if alias in lowered), None
            )
        if positions["text"] is None:
            raise BacktestInputError(
                "no text column: name one `text`, `comment` or `content`, or pass "
                f"--text-column (the header has: {', '.join(header) or 'nothing'})"
            )
        return cls(tuple(header), positions)


@dataclass(frozen=True)
class InputRow:
    """One CSV record: `number` counts records from 1 after the header, `line` is the
    file line it ended on."""

    number: int
    line: int
    id: str
    text: str
    author: str
    email: str
    website: str | None
    ip: str | None
    date: dt.datetime | None
    label: bool | None  # True: spam/toxic, False: ham/ok, None: unlabelled
    label_text: str | None  # the label as written, lower-cased


def parse_label(raw: str) -> bool | None:
    """True for a spam label, False for ham, None for an empty cell; ValueError otherwise."""
    value = raw.strip().lower()
    if not value:
        return None
    if value in POSITIVE_LABELS:
        return True
    if value in NEGATIVE_LABELS:
        return False
    raise ValueError(f"label {raw!r} is not one of spam/ham, 1/0, true/false, toxic/ok, yes/no")


def parse_date(raw: str) -> dt.datetime | None:
    """ISO 8601 (a trailing Z allowed) or Unix seconds; naive times are UTC."""
    value = raw.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = dt.datetime.fromisoformat(value)  # its ValueError names the value
    else:
        try:
            parsed = dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError) as exc:
            raise ValueError(f"date {value!r} is out of range") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def utf8_lines(binary: Iterable[bytes]) -> Iterator[str]:
    """Decode a byte stream line by line (a UTF-8 BOM is dropped), so that bad encoding is
    reported with its exact line number rather than somewhere in a buffered block."""
    for number, raw in enumerate(binary, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BacktestInputError(
                f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start + 1} of the "
                "line); save the file as UTF-8"
            ) from None
        yield line.removeprefix("\ufeff") if number == 1 else line


def read_rows(stream: Iterable[str], overrides: Mapping[str, str | None]) -> Iterator[InputRow]:
    """Stream the CSV's records (BacktestInputError names the row of any problem)."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BacktestInputError(f"cannot read the header: {exc}") from exc
    if not header:
        raise BacktestInputError("the file is empty: expected a header row")
    columns = Columns.resolve(header, overrides)
    pos = columns.positions
    number = 0
    while True:
        try:
            record = next(reader, None)
        except csv.Error as exc:
            raise BacktestInputError(f"row {number + 1} (line {reader.line_num}): {exc}") from exc
        if record is None:
            return
        if not record:  # a blank line
            continue
        number += 1
        where = f"row {number} (line {reader.line_num})"
        if len(record) != len(header):
            raise BacktestInputError(
                f"{where} has {len(record)} fields, the header has {len(header)}"
            )

        def cell(name: str, record: list[str] = record) -> str:
            index = pos[name]
            return record[index] if index is not None else ""

        text = cell("text")
        if not text.strip():
            raise BacktestInputError(f"{where}: the text is empty")
        try:
            label = parse_label(cell("label"))
            date = parse_date(cell("date"))
        except ValueError as exc:
            raise BacktestInputError(f"{where}: {exc}") from exc
        yield InputRow(
            number=number,
            line=reader.line_num,
            id=cell("id").strip() or str(number),
            text=text,
            author=cell("author").strip(),
            email=cell("email").strip(),
            website=cell("website").strip() or None,
            ip=cell("ip").strip() or None,
            date=date,
            label=label,
            label_text=cell("label").strip().lower() or None,
        )


@dataclass(frozen=True)
class RowResult:
    """One row's decision, as written to the output."""

    id: str
    decision: str
    reasons: list[str]
    scores: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "decision": self.decision,
            "reasons": self.reasons,
            "scores": self.scores,
        }


class Backtester:
    """Decides rows one after another with the pipeline and a growing MemoryHistory."""

    def __init__(
        self,
        *,
        policy: Mapping[str, Any],
        site_id: int | None = None,
        classifiers: Any = None,
        checks: Sequence[Check] | None = None,
        key: bytes | None = None,
    ) -> None:
        self.checks = list(checks) if checks is not None else default_checks()
        self.history = MemoryHistory()
        self.site_id = site_id if site_id is not None else 0
        self._key = key or os.urandom(32)  # never stored: indexes are comparable in-run only
        self.context = CheckContext(
            policy=dict(policy),
            ip_index_of=self._ip_index,
            premoderated=bool(policy.get("premoderation")),
            history=self.history,
            classifiers=classifiers,
        )
        self._clock = START - STEP

    def _ip_index(self, ip: str) -> bytes:
        return hmac.new(self._key, b"ip|" + ip.encode(), hashlib.sha256).digest()

    def _identity(self, row: InputRow) -> bytes | None:
        if row.email:
            message = b"email|" + normalise_email_for_index(row.email).encode()
        elif row.author:
            message = b"author|" + row.author.casefold().encode()
        else:
            return None
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def facts(self, row: InputRow) -> CommentFacts:
        """The row as the checks see a stored comment."""
        self._clock = row.date if row.date is not None else self._clock + STEP
        return CommentFacts(
            body=row.text,
            author_name=row.author,
            email=row.email,
            website=row.website,
            ip_truncated=truncate_ip(row.ip) if row.ip else None,
            ip_index=self._ip_index(row.ip) if row.ip else None,
            user_agent=None,
            site_id=self.site_id,
            comment_id=row.number,
            submitted_at=self._clock,
            email_index=self._identity(row),
        )

    def decide(self, row: InputRow) -> RowResult:
        facts = self.facts(row)
        try:
            result = run_pipeline(self.checks, facts, self.context)
        except CheckUnavailable as exc:  # the worker holds after its retries
            self.history.remember(facts, Action.HOLD)
            return RowResult(row.id, Action.HOLD.value, [f"a check could not run: {exc}"], {})
        except Exception as exc:
            exc.add_note(f"while deciding row {row.number} (line {row.line}, id {row.id!r})")
            raise
        self.history.remember(facts, result.action)
        reasons = [
            f"{name}: {verdict.reason}"
            for name, verdict in result.verdicts
            if verdict is not None and verdict.action is not Action.APPROVE
        ]
        scores = {
            name: round(verdict.score, 4)
            for name, verdict in result.verdicts
            if verdict is not None
        }
        return RowResult(row.id, result.action.value, reasons, scores)


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "n/a"


@dataclass
class Summary:
    """Counts per decision and, for labelled rows, per (label as written, decision)."""

    decisions: Counter[str] = field(default_factory=Counter)
    by_label: dict[str, Counter[str]] = field(default_factory=dict)
    label_kind: dict[str, bool | None] = field(default_factory=dict)
    rows: int = 0

    def add(self, row: InputRow, result: RowResult) -> None:
        self.rows += 1
        self.decisions[result.decision] += 1
        name = row.label_text or "(none)"
        self.by_label.setdefault(name, Counter())[result.decision] += 1
        self.label_kind[name] = row.label

    @property
    def labelled(self) -> bool:
        return any(kind is not None for kind in self.label_kind.values())

    def _total(self, positive: bool, decisions: Sequence[str]) -> int:
        return sum(
            self.by_label[name][d]
            for name, kind in self.label_kind.items()
            if kind is positive
            for d in decisions
        )

    def render(self, seconds: float) -> str:
        rate = self.rows / seconds if seconds > 0 else float("inf")
        lines = [
            f"backtest: {self.rows:,} rows in {seconds:.2f} s ({rate:,.0f} rows/s)",
            "decisions: " + ", ".join(f"{d} {self.decisions[d]:,}" for d in DECISIONS),
        ]
        if not self.labelled:
            return "\n".join(lines)
        order = sorted(
            self.by_label,
            key=lambda n: ({True: 0, False: 1, None: 2}[self.label_kind[n]], n),
        )
        names = [
            n
            if n in {"spam", "ham", "(none)"}
            else f"{n} ({'spam' if self.label_kind[n] else 'ham'})"
            for n in order
        ]
        width = max(len("label"), *(len(n) for n in names))
        lines += [
            "",
            "confusion matrix (rows: label, columns: decision)",
            f"{'label':<{width}}" + "".join(f"{d:>9}" for d in (*DECISIONS, "total")),
        ]
        for name, shown in zip(order, names, strict=True):
            counts = self.by_label[name]
            cells = [counts[d] for d in DECISIONS]
            lines.append(f"{shown:<{width}}" + "".join(f"{c:>9,}" for c in (*cells, sum(cells))))
        positives = self._total(True, DECISIONS)
        flagged = ("hold", "reject", "spam")
        true_spam = self._total(True, ("spam",))
        said_spam = true_spam + self._total(False, ("spam",))
        true_flagged = self._total(True, flagged)
        said_flagged = true_flagged + self._total(False, flagged)
        lines += [
            "",
            f"spam (decision spam): precision {_ratio(true_spam, said_spam)}, "
            f"recall {_ratio(true_spam, positives)}",
            f"not approved (hold, reject or spam): precision "
            f"{_ratio(true_flagged, said_flagged)}, recall {_ratio(true_flagged, positives)}",
        ]
        return "\n".join(lines)
