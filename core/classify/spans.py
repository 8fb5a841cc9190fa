"""Offending spans: which words of a comment made it toxic, so the moderator's view can
highlight them.

A lexicon learnt from span annotations (the Civil Comments toxic-spans set): for every
normalised word, the share of its occurrences that annotators marked as toxic, and the
kind of toxicity they named most often with it. At scoring time every word of the
comment whose share reaches the threshold is a span, mapped back to the original text
through the normalisation offsets; a comment the toxicity model finds clean gets none.
Scoring is one dictionary lookup per word.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.classify.datasets import SpanExample
from core.classify.linear import ModelFileError
from core.text.normalize import NormalizedText, normalize

WORD_RE = re.compile(r"\w+")
# What annotators called each kind, as moderators read it.
KINDS = {
    "Insult": "insult",
    "Threat": "threat",
    "Identity based Attack": "identity attack",
    "Profane/Obscene": "profanity",
    "Other Toxicity": "toxicity",
}


@dataclass(frozen=True)
class Span:
    start: int  # offsets into the original body
    end: int
    word: str
    share: float
    kind: str


@dataclass
class SpanLexicon:
    """word -> (share of occurrences marked toxic, kind)."""

    shares: dict[str, float]
    kinds: dict[str, str]
    threshold: float = 0.5
    meta: dict[str, object] | None = None

    def find(self, text: NormalizedText) -> list[Span]:
        """Every word at or above the threshold, as a span of the original body."""
        spans = []
        shares = self.shares
        for match in WORD_RE.finditer(text.text):
            share = shares.get(match.group())
            if share is not None and share >= self.threshold:
                start, end = text.original_span(match.start(), match.end())
                spans.append(
                    Span(start, end, match.group(), share, self.kinds.get(match.group(), ""))
                )
        return spans

    def to_bytes(self) -> bytes:
        words = sorted(self.shares)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            words=np.array("\n".join(words)),
            shares=np.array([self.shares[w] for w in words], dtype=np.float32),
            kinds=np.array("\n".join(self.kinds.get(w, "") for w in words)),
            meta=np.array(json.dumps({**(self.meta or {}), "threshold": self.threshold})),
        )
        return buffer.getvalue()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> SpanLexicon:
        try:
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as archive:
                words = str(archive["words"]).split("\n")
                shares = archive["shares"].tolist()
                kinds = str(archive["kinds"]).split("\n")
                meta = json.loads(str(archive["meta"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"cannot read span lexicon {path}: {exc}") from exc
        return cls(
            dict(zip(words, shares, strict=True)),
            {w: k for w, k in zip(words, kinds, strict=True) if k},
            float(meta.get("threshold", 0.5)),
            meta,
        )


def learn(examples: Iterable[SpanExample], *, min_count: int = 2) -> SpanLexicon:
    """Shares and kinds from annotated comments (words seen fewer than `min_count` times
    are left out: one annotator's whim is not a lexicon entry)."""
    marked: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for example in examples:
        text = normalize(example.text)
        for match in WORD_RE.finditer(text.text):
            word = match.group()
            start, end = text.original_span(match.start(), match.end())
            seen[word] += 1
            inside = sum(1 for offset in range(start, end) if offset in example.spans)
            if inside * 2 > end - start:
                marked[word] += 1
                for kind in example.types:
                    kinds[word][KINDS.get(kind, "toxicity")] += 1
    shares = {
        word: marked[word] / count
        for word, count in seen.items()
        if count >= min_count and marked[word]
    }
    return SpanLexicon(shares, {w: c.most_common(1)[0][0] for w, c in kinds.items() if w in shares})


def span_f1(predicted: set[int], gold: set[int] | frozenset[int]) -> float:
    """SemEval-2021 Task 5's per-comment character F1 (both empty counts as 1)."""
    if not gold:
        return 1.0 if not predicted else 0.0
    if not predicted:
        return 0.0
    overlap = len(predicted & gold)
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def mean_span_f1(lexicon: SpanLexicon, examples: Sequence[SpanExample]) -> float:
    """Average per-comment F1 of the lexicon's spans against the gold spans."""
    total = 0.0
    for example in examples:
        predicted: set[int] = set()
        for span in lexicon.find(normalize(example.text)):
            predicted.update(range(span.start, span.end))
        total += span_f1(predicted, example.spans)
    return total / max(1, len(examples))
