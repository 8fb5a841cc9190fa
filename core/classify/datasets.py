"""Readers for labelled text files: what `replyguard train` and the quality benchmark read.

Every reader yields `Example(text, label, group)`: label 1 is the positive class (spam,
or toxic), `group` names where the row came from (a file, a video) so evaluations can
keep whole groups out of training. Formats recognised by their shape:

- CSV with a header: the text in `text`, `comment`, `content`, `comment_text` or
  `tweet`; the label in `label`, `class`, `spam`, `toxic` or `is_spam`. Labels read as
  positive: 1, true, yes, spam, toxic, abuse; negative: 0, false, no, ham, ok, clean.
  Davidson et al.'s hate/offensive set (columns hate_speech, offensive_language,
  class): classes 0 (hate) and 1 (offensive) are positive.
- The UCI SMS Spam Collection: `ham|spam<TAB>text` lines without a header.
- The Civil Comments toxic-spans folder (comments.csv, annotations.csv, spans.csv): a
  comment is positive when fewer than half its annotators ticked "not toxic";
  `read_toxic_spans` also returns the character spans a majority of annotators marked.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_COLUMNS = ("text", "comment", "content", "comment_text", "tweet", "body")
LABEL_COLUMNS = ("label", "class", "spam", "toxic", "is_spam", "is_toxic")
POSITIVE = {"1", "true", "yes", "spam", "toxic", "abuse", "y", "t"}
NEGATIVE = {"0", "false", "no", "ham", "ok", "clean", "not", "n", "f"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class DatasetError(ValueError):
    """A file that cannot be read as labelled examples (says which and why)."""


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    group: str


@dataclass(frozen=True)
class SpanExample:
    """A comment with the character spans a majority of its annotators marked toxic."""

    comment_id: str
    text: str
    toxic: int
    spans: frozenset[int]  # character offsets
    types: tuple[str, ...]  # majority types: Insult, Threat, ...


def parse_label(raw: str, *, where: str) -> int:
    value = raw.strip().casefold()
    if value in POSITIVE:
        return 1
    if value in NEGATIVE:
        return 0
    raise DatasetError(f"{where}: label {raw!r} is neither positive nor negative")


def read_examples(path: Path) -> Iterator[Example]:
    """Examples from any supported file or folder (see the module docstring)."""
    if path.is_dir():
        if (path / "spans.csv").exists() and (path / "annotations.csv").exists():
            for item in read_toxic_spans(path):
                yield Example(item.text, item.toxic, path.name)
            return
        raise DatasetError(f"{path}: a folder, but not a toxic-spans folder")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            if first.split("\t", 1)[0] in ("ham", "spam") and "\t" in first:
                yield from _sms(path, handle)
            else:
                yield from _csv(path, handle)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 ({exc.reason})") from exc
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from exc


def _sms(path: Path, handle: Iterable[str]) -> Iterator[Example]:
    for number, line in enumerate(handle, start=1):
        label, _, text = line.rstrip("\r\n").partition("\t")
        if not text:
            continue
        yield Example(text, parse_label(label, where=f"{path}:{number}"), path.stem)


def _csv(path: Path, handle: Iterable[str]) -> Iterator[Example]:
    reader = csv.DictReader(handle)
    columns = {name.strip().casefold(): name for name in reader.fieldnames or []}
    text_column = next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    label_column = next((columns[c] for c in LABEL_COLUMNS if c in columns), None)
    if text_column is None or label_column is None:
        raise DatasetError(
            f"{path}: needs a text column ({', '.join(TEXT_COLUMNS)}) and a label column "
            f"({', '.join(LABEL_COLUMNS)}); found {', '.join(columns) or 'none'}"
        )
    davidson = {"hate_speech", "offensive_language"} <= set(columns)
    for number, row in enumerate(reader, start=2):
        text = row.get(text_column) or ""
        raw = row.get(label_column) or ""
        if davidson:
            label = 1 if raw.strip() in ("0", "1") else 0
        else:
            label = parse_label(raw, where=f"{path}:{number}")
        if text.strip():
            yield Example(text, label, path.stem)


def read_toxic_spans(folder: Path) -> list[SpanExample]:
    """The Civil Comments toxic-spans set: majority label, majority spans and types."""
    try:
        with (folder / "comments.csv").open(encoding="utf-8", newline="") as handle:
            texts = {row["comment_id"]: row["comment_text"] for row in csv.DictReader(handle)}
        annotators: dict[str, list[str]] = defaultdict(list)
        not_toxic: dict[str, int] = defaultdict(int)
        comment_of: dict[str, str] = {}
        with (folder / "annotations.csv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                annotators[row["comment_id"]].append(row["annotation"])
                comment_of[row["annotation"]] = row["comment_id"]
                not_toxic[row["comment_id"]] += row["not toxic"] == "True"
        marked: dict[str, set[int]] = defaultdict(set)
        typed: dict[str, set[str]] = defaultdict(set)
        with (folder / "spans.csv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                marked[row["annotation"]].update(range(int(row["start"]), int(row["end"])))
                typed[row["annotation"]].add(row["type"])
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{folder}: not a toxic-spans folder ({exc})") from exc
    examples = []
    for comment_id, text in texts.items():
        votes = annotators.get(comment_id, [])
        if not votes:
            continue
        majority = len(votes) / 2
        counts: dict[int, int] = defaultdict(int)
        type_counts: dict[str, int] = defaultdict(int)
        for annotation in votes:
            for offset in marked.get(annotation, ()):
                counts[offset] += 1
            for kind in typed.get(annotation, ()):
                type_counts[kind] += 1
        spans = frozenset(o for o, n in counts.items() if n > majority and o < len(text))
        types = tuple(sorted(k for k, n in type_counts.items() if n > majority))
        toxic = int(not_toxic[comment_id] < majority)
        examples.append(SpanExample(comment_id, text, toxic, spans, types))
    return examples
