"""Detection quality of the checks on the public labelled sets, printed as one table.

What it measures (all splits keep the test rows out of training; models that a row was
trained on are never used to score it):

- YouTube spam, leave-one-video-out: for each video, the spam model is trained by the
  shipped recipe (core.classify.defaults) minus that video, and scores it. F1 of the
  classifier alone (score >= spam_hold_at) and of the whole pipeline (anything not
  approved counts as flagged), pooled over the five videos.
- SMS spam -> comment spam transfer: a model trained on the SMS set only, scoring the
  YouTube comments (and the reverse), F1 reported.
- Toxicity, never trained on: ROC-AUC of the shipped toxicity model on the Fox News
  comments (hateful vs not) and on the SFU Globe and Mail comments (toxicity >= 2).
- Offending spans: the lexicon re-learnt on 80% of the Civil Comments toxic-spans set
  (split by a hash of the comment id), its threshold chosen on 10%, and SemEval-2021
  Task 5 character F1 on the last 10%: over the majority-toxic comments (what that task's
  posts were) and over every held-out comment.
- Legitimate comments wrongly rejected (spam or reject) and held, through the whole
  default pipeline (core.backtest.Backtester, history included), per set, with models
  that never saw the set.
- Learning from moderators: a site whose comments the base model never saw (one YouTube
  video); F1 on the rest of its comments after N moderator corrections fine-tuned in.
- Backtest throughput on one core (rows/s over 10,000+ mixed rows) and the resident
  memory of a process holding the models.

Run from the repository root (about 10 minutes; --quick skips the per-video pipeline
retraining of the toxicity model and the learning curve's repeats):

    .venv/bin/python bench/quality.py --data ../shared/data

Results go to stdout as Markdown and to bench/results/quality-<time>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.ingest import git_commit  # noqa: E402
from core.backtest import Backtester, InputRow  # noqa: E402
from core.classify import defaults  # noqa: E402
from core.classify.datasets import Example, SpanExample, read_examples, read_toxic_spans  # noqa: E402
from core.classify.features import count_matrix, normalized  # noqa: E402
from core.classify.linear import LinearModel  # noqa: E402
from core.classify.registry import ClassifierSet, default_classifiers  # noqa: E402
from core.classify.spans import SpanLexicon, learn, span_f1  # noqa: E402
from core.classify.train import fine_tune, fit  # noqa: E402
from core.sites import DEFAULT_POLICY  # noqa: E402
from core.text.normalize import normalize  # noqa: E402

VIDEOS = [s for s in defaults.SPAM_SOURCES if s.startswith("youtube-spam/")]
SMS = "sms-spam/SMSSpamCollection"
PRIME_CHUNK = 256


@dataclass
class Row:
    metric: str
    value: str
    target: str = ""
    note: str = ""


def load_fox(data: Path) -> list[Example]:
    path = data / "fox-news-comments" / "fox-news-comments.json"
    with path.open(encoding="utf-8") as handle:
        return [
            Example(item["text"], int(item["label"]), "fox")
            for item in map(json.loads, handle)
            if item.get("text", "").strip()
        ]


def load_sfu(data: Path) -> list[Example]:
    """Globe and Mail comments; toxic = toxicity level 2 (mildly) or more."""
    path = data / "sfu-constructiveness-toxicity" / "SFU_constructiveness_toxicity.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Example(r["comment"], int(int(r["is_toxic_popular_answer_1"]) >= 2), "sfu")
            for r in csv.DictReader(handle)
            if r["comment"].strip()
        ]


def load_davidson_neither(data: Path) -> list[Example]:
    path = data / "davidson-hate-offensive" / "labeled_data.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Example(r["tweet"], 0, "davidson") for r in csv.DictReader(handle) if r["class"] == "2"
        ]


def probabilities(model: LinearModel, texts: Sequence[str]) -> np.ndarray:
    return model.probabilities(count_matrix(normalized(texts)))


def pipeline_decisions(
    classifiers: ClassifierSet, examples: Sequence[Example], policy: dict[str, Any] | None = None
) -> list[str]:
    """Each example through the whole default pipeline, in order, one shared history."""
    tester = Backtester(policy=policy or dict(DEFAULT_POLICY), classifiers=classifiers)
    decisions = []
    for number, example in enumerate(examples, start=1):
        if number % PRIME_CHUNK == 1:  # as `replyguard backtest` does
            chunk = examples[number - 1 : number - 1 + PRIME_CHUNK]
            classifiers.prime(normalized([e.text for e in chunk]))
        row = InputRow(
            number,
            number,
            str(number),
            example.text,
            f"author{number}",
            "",
            None,
            None,
            None,
            bool(example.label),
            None,
        )
        decisions.append(tester.decide(row).decision)
    return decisions


def legit_rates(decisions: Sequence[str]) -> tuple[float, float]:
    """(share rejected or spam, share held) of legitimate rows."""
    n = max(1, len(decisions))
    rejected = sum(d in ("spam", "reject") for d in decisions)
    held = sum(d == "hold" for d in decisions)
    return rejected / n, held / n


def pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def youtube_lovo(
    data: Path,
    spans: SpanLexicon,
    toxicity: LinearModel,
    quick: bool,
    rows: list[Row],
    legit: dict[str, list[str]],
) -> None:
    scores: list[float] = []
    pipeline_pred: list[int] = []
    truth: list[int] = []
    per_video = []
    for video in VIDEOS:
        spam = defaults.train_spam(data, leave_out=[video])
        tox = toxicity if quick else defaults.train_toxicity(data, leave_out=[video])
        test = list(read_examples(data / video))
        p = probabilities(spam, [e.text for e in test])
        decisions = pipeline_decisions(ClassifierSet(spam, tox, spans), test)
        y = [e.label for e in test]
        scores.extend(p.tolist())
        pipeline_pred.extend(int(d != "approve") for d in decisions)
        truth.extend(y)
        per_video.append(f"{Path(video).stem.split('-')[0]} {f1_score(y, p >= 0.5):.3f}")
        legit.setdefault("YouTube ham (leave-one-video-out)", []).extend(
            d for d, e in zip(decisions, test, strict=True) if e.label == 0
        )
    flagged = np.asarray(scores)
    rows.append(
        Row(
            "YouTube spam, leave-one-video-out: classifier F1 at score 0.5 (pooled)",
            f"{f1_score(truth, flagged >= 0.5):.3f}",
            ">= 0.96",
            "per video: " + ", ".join(per_video),
        )
    )
    hold_at = float(DEFAULT_POLICY["spam_hold_at"])
    rows.append(
        Row(
            f"YouTube spam, same split: classifier F1 at the shipped hold threshold {hold_at}",
            f"{f1_score(truth, flagged >= hold_at):.3f}",
            "",
            "the threshold trades recall for fewer legitimate news comments held",
        )
    )
    rows.append(
        Row(
            "YouTube spam, same split: whole default pipeline F1 (not approved = flagged)",
            f"{f1_score(truth, pipeline_pred):.3f}",
        )
    )


def sms_transfer(data: Path, rows: list[Row]) -> None:
    sms = list(read_examples(data / SMS))
    youtube = [e for v in VIDEOS for e in read_examples(data / v)]
    on_sms = fit([e.text for e in sms], [e.label for e in sms], kind="spam", c=defaults.SPAM_C)
    p = probabilities(on_sms, [e.text for e in youtube]) >= 0.5
    rows.append(
        Row(
            "SMS spam -> YouTube comment spam transfer: F1",
            f"{f1_score([e.label for e in youtube], p):.3f}",
            "reported",
            f"recall {np.mean(p[[e.label == 1 for e in youtube]]):.3f}",
        )
    )
    on_youtube = fit(
        [e.text for e in youtube], [e.label for e in youtube], kind="spam", c=defaults.SPAM_C
    )
    q = probabilities(on_youtube, [e.text for e in sms]) >= 0.5
    rows.append(
        Row(
            "YouTube comment spam -> SMS spam transfer: F1",
            f"{f1_score([e.label for e in sms], q):.3f}",
            "reported",
        )
    )


def auc(model: LinearModel, examples: Sequence[Example]) -> float:
    labels = [e.label for e in examples]
    return float(roc_auc_score(labels, probabilities(model, [e.text for e in examples])))


def toxicity_auc(data: Path, shipped: LinearModel, rows: list[Row]) -> None:
    fox = load_fox(data)
    sfu = load_sfu(data)
    rows.append(
        Row(
            "Toxicity, Fox News comments (never trained on): ROC-AUC",
            f"{auc(shipped, fox):.3f}",
            ">= 0.80",
            f"{len(fox)} comments, {sum(e.label for e in fox)} hateful",
        )
    )
    rows.append(
        Row(
            "Toxicity, SFU Globe and Mail (evaluation only), toxicity >= 2: ROC-AUC",
            f"{auc(shipped, sfu):.3f}",
            "reported",
            f"{len(sfu)} comments, {sum(e.label for e in sfu)} toxic",
        )
    )


def _split(example: SpanExample) -> int:
    return zlib.crc32(example.comment_id.encode()) % 10


def _mean_f1(lexicon: SpanLexicon, examples: Sequence[SpanExample]) -> float:
    total = 0.0
    for example in examples:
        predicted: set[int] = set()
        for span in lexicon.find(normalize(example.text)):
            predicted.update(range(span.start, span.end))
        total += span_f1(predicted, example.spans)
    return total / max(1, len(examples))


def span_quality(data: Path, rows: list[Row]) -> None:
    examples = read_toxic_spans(data / defaults.SPANS_SOURCE)
    train = [e for e in examples if _split(e) < 8 and e.toxic]
    tune = [e for e in examples if _split(e) == 8 and e.toxic]
    test = [e for e in examples if _split(e) == 9]
    lexicon = learn(train)
    best = max(
        (0.2, 0.25, 0.3, 0.35, 0.4, 0.5),
        key=lambda t: _mean_f1(SpanLexicon(lexicon.shares, lexicon.kinds, t), tune),
    )
    lexicon.threshold = best
    toxic_test = [e for e in test if e.toxic]
    rows.append(
        Row(
            "Offending spans, Civil Comments toxic spans held-out 10%, majority-toxic "
            "comments: SemEval-2021 char F1",
            f"{_mean_f1(lexicon, toxic_test):.3f}",
            ">= 0.65",
            f"{len(toxic_test)} comments; threshold {best} chosen on a separate 10%",
        )
    )
    rows.append(
        Row(
            "Offending spans, same split, every held-out comment (incl. not-toxic "
            "majority, empty gold)",
            f"{_mean_f1(lexicon, test):.3f}",
            "reported",
            f"{len(test)} comments",
        )
    )


def legit_quality(
    data: Path,
    shipped: ClassifierSet,
    spans: SpanLexicon,
    legit: dict[str, list[str]],
    rows: list[Row],
) -> None:
    # SMS: models that never saw the SMS set.
    sms_free = ClassifierSet(
        defaults.train_spam(data, leave_out=[SMS]),
        defaults.train_toxicity(data, leave_out=[SMS]),
        spans,
    )
    sms_ham = [e for e in read_examples(data / SMS) if e.label == 0]
    legit["SMS ham (models trained without SMS)"] = pipeline_decisions(sms_free, sms_ham)
    for name, examples in (
        ("Fox News comments, not hateful", [e for e in load_fox(data) if e.label == 0]),
        (
            "Fox News comments, hateful (toxic but legitimate speech)",
            [e for e in load_fox(data) if e.label == 1],
        ),
        ("SFU Globe and Mail, not toxic", [e for e in load_sfu(data) if e.label == 0]),
        ("Davidson tweets, neither hate nor offensive", load_davidson_neither(data)),
    ):
        legit[name] = pipeline_decisions(shipped, examples)
    for name, decisions in legit.items():
        rejected, held = legit_rates(decisions)
        rows.append(
            Row(
                f"{name}: wrongly rejected / held",
                f"{pct(rejected)} / {pct(held)}",
                "<= 0.5% / <= 10%",
                f"{len(decisions)} comments",
            )
        )


def learning_curve(data: Path, quick: bool, rows: list[Row]) -> None:
    """A site the base model never saw: Youtube05's comments; N corrections learnt."""
    video = VIDEOS[-1]
    base = defaults.train_spam(data, leave_out=[video])
    site = list(read_examples(data / video))
    generator = random.Random(7)
    repeats = 1 if quick else 3
    results: dict[int, list[float]] = {}
    for _ in range(repeats):
        order = site[:]
        generator.shuffle(order)
        held_out, pool = order[:150], order[150:]
        y = [e.label for e in held_out]
        for n in (0, 10, 25, 50, 100):
            labelled = pool[:n]
            if n and len({e.label for e in labelled}) == 2:
                from core.learning import PRIOR_STRENGTH

                model = fine_tune(
                    base,
                    [e.text for e in labelled],
                    [e.label for e in labelled],
                    prior_strength=PRIOR_STRENGTH,
                )
            else:
                model = base
            p = probabilities(model, [e.text for e in held_out]) >= 0.5
            results.setdefault(n, []).append(float(f1_score(y, p)))
    curve = ", ".join(f"N={n}: {np.mean(v):.3f}" for n, v in results.items())
    gain = np.mean(results[100]) - np.mean(results[0])
    rows.append(
        Row(
            "Learning from moderators: F1 on an unseen site after N corrections",
            f"{gain:+.3f} at N=100",
            "gain shown",
            curve + f" ({repeats} shuffles)",
        )
    )


def throughput(data: Path, rows: list[Row]) -> None:
    examples = [e for v in VIDEOS for e in read_examples(data / v)]
    examples += list(read_examples(data / SMS))
    examples += load_fox(data)
    examples = (examples * 2)[:12000]
    classifiers = default_classifiers()
    classifiers.scores("warm up")
    started = time.process_time()
    wall = time.perf_counter()
    pipeline_decisions(classifiers, examples)
    cpu = time.process_time() - started
    elapsed = time.perf_counter() - wall
    rows.append(
        Row(
            "Backtest throughput, default pipeline, one process",
            f"{len(examples) / cpu:,.0f} rows/s per CPU-second",
            ">= 1,000/s",
            f"{len(examples)} rows in {elapsed:.1f} s wall",
        )
    )
    rows.append(
        Row(
            "Worker process memory (RSS) with the models loaded",
            f"{worker_rss_kb(load_models=True) / 1024:.0f} MB",
            "reported",
            f"{worker_rss_kb(load_models=False) / 1024:.0f} MB with the worker's "
            "modules imported, before loading the models",
        )
    )


def worker_rss_kb(*, load_models: bool) -> int:
    """VmRSS of a fresh process that imports what a worker imports (ru_maxrss would carry
    the benchmark's own peak over the exec)."""
    code = "import workers.tasks, core.moderation\n"
    if load_models:
        code += "from core.classify.registry import default_classifiers\n"
        code += "default_classifiers().scores('warm up')\n"
    code += "import re\nprint(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return int(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    data: Path = args.data
    started = time.perf_counter()
    rows: list[Row] = []
    shipped = default_classifiers()
    legit: dict[str, list[str]] = {}
    steps: list[tuple[str, Callable[[], None]]] = [
        (
            "YouTube leave-one-video-out",
            lambda: youtube_lovo(data, shipped.spans, shipped.toxicity, args.quick, rows, legit),
        ),
        ("SMS transfer", lambda: sms_transfer(data, rows)),
        ("toxicity AUC", lambda: toxicity_auc(data, shipped.toxicity, rows)),
        ("spans", lambda: span_quality(data, rows)),
        ("legitimate comments", lambda: legit_quality(data, shipped, shipped.spans, legit, rows)),
        ("learning curve", lambda: learning_curve(data, args.quick, rows)),
        ("throughput", lambda: throughput(data, rows)),
    ]
    for name, step in steps:
        print(f"... {name}", file=sys.stderr, flush=True)
        step()
    print(
        f"\nReplyguard detection quality (commit {git_commit() or '?'}, "
        f"{time.perf_counter() - started:.0f} s)\n"
    )
    print("| measure | value | target | note |\n| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row.metric} | {row.value} | {row.target} | {row.note} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"quality-{stamp}.json").write_text(json.dumps([row.__dict__ for row in rows], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
