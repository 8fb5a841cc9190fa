"""Replay comments from a file through the worker's pipeline, offline (`replyguard backtest`).

Contract:

- Input, one of FORMATS (`read_input` picks one from the first lines when asked for
  "auto"); all UTF-8 (a BOM is fine) and, except toxic-spans, read one record at a time:
  - csv: a header row. Column names are matched case-insensitively: `text` (or
    `comment`, `content`, `comment_text`, `tweet`) is required; optional are `id` (or
    `comment_id`), `author` (or `name`), `email`, `website`, `ip`, `date` and `label`
    (or `class`, `is_toxic_popular_answer_1`, `toxic`). `Columns.resolve` takes overrides
    for the text, label and id columns. Labels: spam/ham, 1/0, true/false, toxic/ok,
    yes/no (any case); an empty cell is unlabelled. Two published sets are recognised by
    their header (`LabelScheme.for_header`): Davidson et al.'s `class` beside
    `hate_speech`/`offensive_language` (0 hate and 1 offensive are toxic, 2 neither is
    not) and the SFU corpus' `is_toxic_popular_answer_1` (1 to 4, toxic from 2).
  - sms: the UCI SMS Spam Collection, `ham<TAB>text` or `spam<TAB>text` lines, no header.
  - jsonl: one JSON object per line with the csv's field names (and `user` for the
    author); numbers and booleans are read as their text.
  - toxic-spans: the Civil Comments toxic-spans folder (comments.csv, annotations.csv,
    spans.csv); a comment is toxic when fewer than half its annotators ticked "not
    toxic" (core.classify.datasets.read_toxic_spans, which reads the folder whole).
  Each row carries the names of its label classes (LabelNames: spam/ham or toxic/ok) for
  the summary. Any problem is a BacktestInputError naming the row and the file line.
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
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.checks import Action, CheckContext, CheckUnavailable, default_checks, run_pipeline
from core.checks.base import Check, CommentFacts
from core.classify.datasets import DatasetError, read_toxic_spans
from core.history import MemoryHistory
from core.privacy import normalise_email_for_index, truncate_ip
from core.text.normalize import normalize

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=10)
# Rows read ahead and scored by the classifiers in one batch.
PRIME_CHUNK = 256

FORMATS = ("auto", "csv", "sms", "jsonl", "toxic-spans")
ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("text", "comment", "content", "comment_text", "tweet"),
    "id": ("id", "comment_id"),
    "author": ("author", "name"),
    "email": ("email",),
    "website": ("website",),
    "ip": ("ip",),
    "date": ("date",),
    "label": ("label", "class", "is_toxic_popular_answer_1", "toxic"),
}
JSON_ALIASES = {**ALIASES, "author": (*ALIASES["author"], "user")}
POSITIVE_LABELS = frozenset({"spam", "1", "true", "toxic", "yes"})
NEGATIVE_LABELS = frozenset({"ham", "0", "false", "ok", "no"})
DECISIONS = tuple(action.value for action in Action)
TOXIC_SPANS_FILES = ("comments.csv", "annotations.csv", "spans.csv")


class BacktestInputError(Exception):
    """The input cannot be backtested: a missing column, bad encoding, a malformed row."""


@dataclass(frozen=True)
class LabelNames:
    """What the summary calls the two label classes, and the decision that counts as
    catching a positive row in its precision and recall."""

    positive: str
    negative: str
    decision: str


SPAM_NAMES = LabelNames("spam", "ham", Action.SPAM.value)
TOXIC_NAMES = LabelNames("toxic", "ok", Action.REJECT.value)
DAVIDSON_CLASSES = {"0": (True, "hate"), "1": (True, "offensive"), "2": (False, "neither")}
SFU_LEVELS = {
    "1": (False, "1 not toxic"),
    "2": (True, "2 mildly toxic"),
    "3": (True, "3 toxic"),
    "4": (True, "4 very toxic"),
}


@dataclass(frozen=True)
class LabelScheme:
    """How an input's label cells read: generic words (parse_label), or the codes of a
    known data set, each mapped to (positive?, the name shown in the summary)."""

    names: LabelNames = SPAM_NAMES
    codes: Mapping[str, tuple[bool, str]] | None = None
    described: str = ""

    @classmethod
    def for_header(cls, lowered: Iterable[str], label_column: str | None) -> LabelScheme:
        """The scheme for a label column (lower-cased name) among these column names."""
        if label_column == "class" and {"hate_speech", "offensive_language"} <= set(lowered):
            return cls(TOXIC_NAMES, DAVIDSON_CLASSES, "0 (hate), 1 (offensive), 2 (neither)")
        if label_column == "is_toxic_popular_answer_1":
            return cls(TOXIC_NAMES, SFU_LEVELS, "1 (not toxic) to 4 (very toxic)")
        if label_column == "toxic":
            return cls(TOXIC_NAMES)
        return cls()

    def parse(self, raw: str) -> tuple[bool | None, str | None]:
        """(positive?, the label's name) or (None, None) for an empty cell; ValueError for
        a label the scheme does not know."""
        value = raw.strip().lower()
        if not value:
            return None, None
        if self.codes is None:
            return parse_label(raw), value
        if value not in self.codes:
            raise ValueError(f"label {raw!r} is not one of {self.described}")
        return self.codes[value]


@dataclass(frozen=True)
class Columns:
    """Where each field is in the header (an index), or None when the CSV lacks it."""

    header: tuple[str, ...]
    positions: Mapping[str, int | None]
    labels: LabelScheme = LabelScheme()

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
                "no text column: name one `text`, `comment`, `content`, `comment_text` or "
                f"`tweet`, or pass --text-column (the header has: {', '.join(header) or 'nothing'})"
            )
        label_at = positions["label"]
        labels = LabelScheme.for_header(lowered, None if label_at is None else lowered[label_at])
        return cls(tuple(header), positions, labels)


@dataclass(frozen=True)
class InputRow:
    """One input record: `number` counts records from 1 (after a header), `line` is the
    file line it ended on (for a toxic-spans folder, read whole: the record number)."""

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
    label_text: str | None  # the label as written, lower-cased, or a data set's class name
    names: LabelNames = SPAM_NAMES  # what the label classes are called in the summary


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
            label, label_text = columns.labels.parse(cell("label"))
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
            label_text=label_text,
            names=columns.labels.names,
        )


def _refuse_overrides(overrides: Mapping[str, str | None], what: str) -> None:
    if any(overrides.values()):
        raise BacktestInputError(
            f"--text-column, --label-column and --id-column do not apply to {what}"
        )


def read_sms(stream: Iterable[str], overrides: Mapping[str, str | None]) -> Iterator[InputRow]:
    """Stream SMS Spam Collection lines, `ham<TAB>text` or `spam<TAB>text`; blank lines are
    skipped, ids are row numbers."""
    _refuse_overrides(overrides, "SMS Spam Collection lines (label<TAB>text)")
    number = 0
    for line_number, line in enumerate(stream, start=1):
        content = line.rstrip("\r\n")
        if not content.strip():
            continue
        number += 1
        where = f"row {number} (line {line_number})"
        label, tab, text = content.partition("\t")
        label = label.strip().lower()
        if not tab or label not in ("ham", "spam"):
            raise BacktestInputError(f"{where}: expected `ham` or `spam`, a tab, then the text")
        if not text.strip():
            raise BacktestInputError(f"{where}: the text is empty")
        yield InputRow(
            number=number,
            line=line_number,
            id=str(number),
            text=text,
            author="",
            email="",
            website=None,
            ip=None,
            date=None,
            label=label == "spam",
            label_text=label,
        )


def _json_text(value: object, where: str, key: str) -> str:
    """A JSON value as a cell would hold it: strings as they are, numbers and booleans
    as their JSON text, null as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise BacktestInputError(
        f"{where}: field {key!r} is a JSON {type(value).__name__}, expected text or a number"
    )


def read_json_lines(
    stream: Iterable[str], overrides: Mapping[str, str | None]
) -> Iterator[InputRow]:
    """Stream JSON lines: one object per line, field names as the csv's columns (any
    case, `user` also names the author); blank lines are skipped."""
    number = 0
    for line_number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BacktestInputError(
                f"line {line_number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(record, dict):
            raise BacktestInputError(
                f"line {line_number}: expected a JSON object, got {type(record).__name__}"
            )
        number += 1
        where = f"row {number} (line {line_number})"
        fields = {str(key).strip().lower(): value for key, value in record.items()}
        found: dict[str, str] = {}
        for name, aliases in JSON_ALIASES.items():
            wanted = overrides.get(name)
            keys = (wanted.strip().lower(),) if wanted else aliases
            key = next((k for k in keys if k in fields), None)
            if key is not None:
                found[name] = key
        if "text" not in found:
            wanted = overrides.get("text")
            raise BacktestInputError(
                f"{where}: "
                + (
                    f"no field {wanted!r} for the text"
                    if wanted
                    else "no text field: name one `text`, `comment`, `content`, "
                    "`comment_text` or `tweet`, or pass --text-column"
                )
                + f" (the object has: {', '.join(fields) or 'nothing'})"
            )
        values = {name: _json_text(fields[key], where, key) for name, key in found.items()}

        def value(name: str, values: dict[str, str] = values) -> str:
            return values.get(name, "")

        text = value("text")
        if not text.strip():
            raise BacktestInputError(f"{where}: the text is empty")
        labels = LabelScheme.for_header(fields, found.get("label"))
        try:
            label, label_text = labels.parse(value("label"))
            date = parse_date(value("date"))
        except ValueError as exc:
            raise BacktestInputError(f"{where}: {exc}") from exc
        yield InputRow(
            number=number,
            line=line_number,
            id=value("id").strip() or str(number),
            text=text,
            author=value("author").strip(),
            email=value("email").strip(),
            website=value("website").strip() or None,
            ip=value("ip").strip() or None,
            date=date,
            label=label,
            label_text=label_text,
            names=labels.names,
        )


def sniff_format(head: Sequence[str]) -> str:
    """csv, sms or jsonl from the first lines up to the first non-blank one: a first line
    starting `ham<TAB>` or `spam<TAB>` is sms, a first non-blank character `{` is jsonl."""
    if head and head[0].startswith(("ham\t", "spam\t")):
        return "sms"
    if head and head[-1].lstrip().startswith("{"):
        return "jsonl"
    return "csv"


def read_input(
    lines: Iterable[str], overrides: Mapping[str, str | None], fmt: str = "auto"
) -> Iterator[InputRow]:
    """Stream the rows of a csv, sms or jsonl input (`fmt`, or "auto" to sniff_format)."""
    iterator = iter(lines)
    head: list[str] = []
    if fmt == "auto":
        for line in iterator:
            head.append(line)
            if line.strip():
                break
        fmt = sniff_format(head)
    readers = {"csv": read_rows, "sms": read_sms, "jsonl": read_json_lines}
    if fmt not in readers:
        raise BacktestInputError(
            f"the {fmt} format is read from a folder (comments.csv, annotations.csv and "
            "spans.csv), not from a file"
        )
    yield from readers[fmt](itertools.chain(head, iterator), overrides)


def read_toxic_spans_folder(
    folder: Path, overrides: Mapping[str, str | None]
) -> Iterator[InputRow]:
    """The rows of a Civil Comments toxic-spans folder, in comments.csv order, labelled
    toxic or ok by the annotators' majority (read whole: it joins three files)."""
    _refuse_overrides(overrides, "a toxic-spans folder")
    missing = [name for name in TOXIC_SPANS_FILES if not (folder / name).is_file()]
    if missing:
        raise BacktestInputError(
            f"not a toxic-spans folder: {' and '.join(missing)} missing (it needs "
            f"{', '.join(TOXIC_SPANS_FILES)})"
        )
    try:
        examples = read_toxic_spans(folder)
    except DatasetError as exc:
        raise BacktestInputError(str(exc)) from exc
    for number, example in enumerate(examples, start=1):
        if not example.text.strip():
            raise BacktestInputError(f"row {number} (comment {example.comment_id}): empty text")
        yield InputRow(
            number=number,
            line=number,
            id=example.comment_id,
            text=example.text,
            author="",
            email="",
            website=None,
            ip=None,
            date=None,
            label=bool(example.toxic),
            label_text="toxic" if example.toxic else "ok",
            names=TOXIC_NAMES,
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
        self.notes: list[str] = []

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

    def decide_all(self, rows: Iterable[InputRow]) -> Iterator[tuple[InputRow, RowResult]]:
        """Decide rows in order, reading ahead PRIME_CHUNK rows so the classifiers score
        them in one batch (identical scores, a fraction of the cost).

        Without dates (the first row has none) the rows' times are made up, so rates per
        author or address mean nothing: the flood check then runs in shadow mode,
        recorded but not acted on, and `notes` says so."""
        iterator = iter(rows)
        first = True
        failure: Exception | None = None
        while True:
            chunk: list[InputRow] = []
            try:
                for row in itertools.islice(iterator, PRIME_CHUNK):
                    chunk.append(row)
            except Exception as exc:  # a bad row: decide the good ones before it first
                failure = exc
            if not chunk:
                break
            if first and chunk[0].date is None:
                shadow = list(self.context.policy.get("shadow_checks") or [])
                if "flood" not in shadow:
                    self.context.policy["shadow_checks"] = [*shadow, "flood"]
                    self.notes.append(
                        "no date column: rows are 10 s apart, so the flood check ran in "
                        "shadow mode (recorded, not acted on)"
                    )
            first = False
            prime = getattr(self.context.classifiers, "prime", None)
            if prime is not None:
                prime([normalize(row.text).text for row in chunk])
            for row in chunk:
                yield row, self.decide(row)
            if failure is not None:
                break
        if failure is not None:
            raise failure

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
            # A shadow check's objection is listed, marked: it did not count.
            f"{name}{' (shadow)' if name in result.shadow else ''}: {verdict.reason}"
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
    """Counts per decision and, for labelled rows, per (label as written, decision).

    `names` calls the label classes spam/ham or toxic/ok: given, or else those of the
    first labelled row."""

    decisions: Counter[str] = field(default_factory=Counter)
    by_label: dict[str, Counter[str]] = field(default_factory=dict)
    label_kind: dict[str, bool | None] = field(default_factory=dict)
    rows: int = 0
    names: LabelNames | None = None

    def add(self, row: InputRow, result: RowResult) -> None:
        self.rows += 1
        self.decisions[result.decision] += 1
        name = row.label_text or "(none)"
        self.by_label.setdefault(name, Counter())[result.decision] += 1
        self.label_kind[name] = row.label
        if self.names is None and row.label is not None:
            self.names = row.names

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
        classes = self.names or SPAM_NAMES
        names = [
            n
            if n in {classes.positive, classes.negative, "(none)"}
            else f"{n} ({classes.positive if self.label_kind[n] else classes.negative})"
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
        caught = self._total(True, (classes.decision,))
        said = caught + self._total(False, (classes.decision,))
        true_flagged = self._total(True, flagged)
        said_flagged = true_flagged + self._total(False, flagged)
        lines += [
            "",
            f"{classes.positive} (decision {classes.decision}): precision "
            f"{_ratio(caught, said)}, recall {_ratio(caught, positives)}",
            f"not approved (hold, reject or spam): precision "
            f"{_ratio(true_flagged, said_flagged)}, recall {_ratio(true_flagged, positives)}",
        ]
        return "\n".join(lines)
