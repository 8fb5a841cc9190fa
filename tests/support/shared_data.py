"""The labelled evaluation data in shared/data (never copied into the repository).

`shared_data_dir()` is the directory: $REPLYGUARD_SHARED_DATA, else the first existing of
<repo>/../shared/data and /work/shared/data; the calling test is skipped when none
exists. The loaders yield comment texts only; tests must never print them (the data is
real user content, see shared/data/README.md).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """Where shared/data is; skips the calling test when it is nowhere to be found."""
    candidates = []
    if env := os.environ.get("REPLYGUARD_SHARED_DATA"):
        candidates.append(Path(env))
    candidates += [_REPO.parent / "shared" / "data", Path("/work/shared/data")]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    pytest.skip("shared/data is not available (set REPLYGUARD_SHARED_DATA)")


def youtube_comments(spam: bool) -> Iterator[str]:
    """CONTENT of the YouTube Spam Collection rows with CLASS 1 (spam) or 0 (ham)."""
    wanted = "1" if spam else "0"
    for path in sorted((shared_data_dir() / "youtube-spam").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["CLASS"].strip() == wanted:
                    yield row["CONTENT"]


def sms_messages(spam: bool) -> Iterator[str]:
    """Texts of the SMS Spam Collection lines labelled spam or ham."""
    wanted = "spam" if spam else "ham"
    path = shared_data_dir() / "sms-spam" / "SMSSpamCollection"
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            label, _, text = line.rstrip("\n").partition("\t")
            if label == wanted:
                yield text


def civil_comments() -> Iterator[str]:
    """comment_text of every Civil Comments toxic-spans row (news comments: not spam)."""
    path = shared_data_dir() / "civil-comments-toxic-spans" / "comments.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield row["comment_text"]
