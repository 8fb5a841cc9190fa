"""Which models score a site's comments, loaded once per process.

The shipped defaults live in `core/classify/models/` (trained by `replyguard train`, see
docs/classifiers.md). A site whose moderators' labels have been learnt (core.learning)
has its own fine-tuned spam and toxicity models in the `site_models` table; they replace
the defaults for that site only. Models are cached per process and a site's entry is
re-read when its `trained_at` changes, so a retrain reaches every worker without a
restart.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sklearn.utils import murmurhash3_32
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.classify.features import WORD_BUCKETS, count_matrix
from core.classify.linear import LinearModel, ModelFileError
from core.classify.spans import WORD_RE, SpanLexicon
from models import SiteModel

MODEL_DIR = Path(__file__).parent / "models"
SPAM_FILE = "spam.npz"
TOXICITY_FILE = "toxicity.npz"
SPANS_FILE = "toxic_spans.npz"


@dataclass(frozen=True)
class Scores:
    spam: float
    toxicity: float


@dataclass
class ClassifierSet:
    """The spam and toxicity models and the span lexicon in effect for one site."""

    spam: LinearModel
    toxicity: LinearModel
    spans: SpanLexicon
    source: str = "default"  # "default" or "site" (a fine-tuned model is in use)
    _last: tuple[str, Scores] | None = field(default=None, repr=False)
    _primed: dict[str, Scores] = field(default_factory=dict, repr=False)

    def scores(self, normalized_text: str) -> Scores:
        """Both probabilities from one feature extraction; the last text is remembered
        because the spam and toxicity checks ask in turn about the same comment."""
        last = self._last
        if last is not None and last[0] == normalized_text:
            return last[1]
        primed = self._primed.pop(normalized_text, None)
        if primed is not None:
            self._last = (normalized_text, primed)
            return primed
        counts = count_matrix([normalized_text])
        scores = Scores(
            float(self.spam.probabilities(counts)[0]),
            float(self.toxicity.probabilities(counts)[0]),
        )
        self._last = (normalized_text, scores)
        return scores

    def prime(self, normalized_texts: list[str]) -> None:
        """Score a batch ahead of the comments that will ask for it (the backtest reads
        rows in chunks): one feature extraction for the chunk instead of one per row,
        the same scores. Replaces what was primed before."""
        self._primed = dict(zip(normalized_texts, self.score_many(normalized_texts), strict=True))

    def score_many(self, normalized_texts: list[str]) -> list[Scores]:
        """Scores for a batch (the backtest and the benchmark score thousands at once)."""
        counts = count_matrix(normalized_texts)
        spam = self.spam.probabilities(counts)
        toxicity = self.toxicity.probabilities(counts)
        return [Scores(float(s), float(t)) for s, t in zip(spam, toxicity, strict=True)]


def weightiest_words(model: LinearModel, normalized_text: str, count: int = 3) -> list[str]:
    """The words of the text whose own weight pushes the score up most: the explanation
    a moderator reads beside a classifier's score."""
    weights = {}
    for word in set(WORD_RE.findall(normalized_text)):
        bucket = abs(murmurhash3_32(word, seed=0)) % WORD_BUCKETS
        weight = float(model.weights[bucket] * model.idf[bucket])
        if weight > 0:
            weights[word] = weight
    return sorted(weights, key=weights.__getitem__, reverse=True)[:count]


@lru_cache(maxsize=1)
def default_classifiers() -> ClassifierSet:
    """The shipped models (ModelFileError when a file is missing or unreadable)."""
    return ClassifierSet(
        LinearModel.load(MODEL_DIR / SPAM_FILE),
        LinearModel.load(MODEL_DIR / TOXICITY_FILE),
        SpanLexicon.load(MODEL_DIR / SPANS_FILE),
    )


_site_cache: dict[int, tuple[tuple[tuple[str, dt.datetime], ...], ClassifierSet]] = {}
_site_lock = threading.Lock()


def classifiers_for(session: Session | None, site_id: int | None) -> ClassifierSet:
    """The site's models: its fine-tuned ones where it has them, else the defaults."""
    defaults = default_classifiers()
    if session is None or site_id is None:
        return defaults
    rows = session.execute(
        select(SiteModel.kind, SiteModel.trained_at).where(SiteModel.site_id == site_id)
    ).all()
    if not rows:
        return defaults
    version = tuple(sorted((str(kind), trained) for kind, trained in rows))
    cached = _site_cache.get(site_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    models = {
        row.kind: row.payload
        for row in session.scalars(select(SiteModel).where(SiteModel.site_id == site_id))
    }
    try:
        spam = LinearModel.from_bytes(models["spam"]) if "spam" in models else defaults.spam
        toxicity = (
            LinearModel.from_bytes(models["toxicity"])
            if "toxicity" in models
            else defaults.toxicity
        )
    except ModelFileError:
        return defaults  # a stored model from other features: the defaults still work
    chosen = ClassifierSet(spam, toxicity, defaults.spans, source="site")
    with _site_lock:
        _site_cache[site_id] = (version, chosen)
    return chosen
