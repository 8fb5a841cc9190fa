"""The product promise: `replyguard backtest` over ANY shared labelled set prints its
confusion matrix. Every set in shared/data runs through the real CLI (a subprocess) on
its first 300 rows; the runs start together so the file stays well under a minute.

Only ids, decisions and the summary are looked at: the texts are real user content and
never printed (shared/data/README.md)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.devstack_proc import replyguard_executable
from tests.support.shared_data import shared_data_dir

LIMIT = 300
# set: (path under shared/data, rows in the set when fewer than LIMIT, a label row's name)
SETS: dict[str, tuple[str, int, str]] = {
    "youtube": ("youtube-spam/Youtube01-Psy.csv", LIMIT, "1 (spam)"),
    "sms": ("sms-spam/SMSSpamCollection", LIMIT, "spam"),
    "fox": ("fox-news-comments/fox-news-comments.json", LIMIT, "1 (toxic)"),
    "davidson": ("davidson-hate-offensive/labeled_data.csv", LIMIT, "offensive (toxic)"),
    "sfu": (
        "sfu-constructiveness-toxicity/SFU_constructiveness_toxicity.csv",
        LIMIT,
        "1 not toxic (ok)",
    ),
    "toxic-spans": ("civil-comments-toxic-spans", LIMIT, "toxic"),
    "jigsaw": ("jigsaw-toxic-sample/test_examples.csv", 101, "1 (toxic)"),
}
EXTRA = {"fox": ["--label-names", "toxic"]}  # 1/0 labels mean hateful/not in that set


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, Path, str]]]:
    """Every set's (exit code, output file, stderr), the subprocesses run side by side."""
    data = shared_data_dir()
    out = tmp_path_factory.mktemp("backtest-shared")
    started: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    try:
        for name, (path, _, _) in SETS.items():
            target = out / f"{name}.jsonl"
            command = [
                str(replyguard_executable()),
                "backtest",
                str(data / path),
                "--limit",
                str(LIMIT),
                "--no-progress",
                "--output",
                str(target),
                *EXTRA.get(name, []),
            ]
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            started[name] = (process, target)
        results = {}
        for name, (process, target) in started.items():
            _, err = process.communicate(timeout=120)
            results[name] = (process.returncode, target, err)
        yield results
    finally:
        for process, _ in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("name", list(SETS))
def test_backtest_prints_a_confusion_matrix(
    name: str, runs: dict[str, tuple[int, Path, str]]
) -> None:
    code, target, err = runs[name]
    _, rows, label = SETS[name]
    assert code == 0, err[-2000:]
    decided = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(decided) == rows
    assert len({row["id"] for row in decided}) == rows
    assert {row["decision"] for row in decided} <= {"approve", "hold", "reject", "spam"}
    assert f"backtest: {rows:,} rows" in err
    assert "confusion matrix (rows: label, columns: decision)" in err
    lines = err.splitlines()
    header = lines.index("confusion matrix (rows: label, columns: decision)") + 1
    assert lines[header].split() == ["label", "approve", "hold", "reject", "spam", "total"]
    matrix = lines[header + 1 : lines.index("", header)]
    assert any(line.startswith(f"{label} ") for line in matrix), f"no {label!r} row"
    assert sum(int(line.split()[-1].replace(",", "")) for line in matrix) == rows
    assert "(none)" not in err  # every row of every set is labelled
    assert "not approved (hold, reject or spam): precision" in err
