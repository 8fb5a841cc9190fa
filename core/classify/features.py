"""Hashed word and character n-gram counts of normalised text.

Hashing (rather than a fitted vocabulary) keeps a model file to a weight per used hash
bucket, and makes a per-site model, trained later from moderators' labels, share the
feature space of the shipped one so their scores can be combined. Both the training and
the scoring side call `count_matrix`, always on `core.text.normalize` output, so
look-alike letters and leetspeak land in the same buckets as the plain words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from core.text.normalize import normalize

WORD_BUCKETS: Final = 2**19
CHAR_BUCKETS: Final = 2**19
N_FEATURES: Final = WORD_BUCKETS + CHAR_BUCKETS
# Part of every model file: a file hashed with other settings is refused, not misread.
FEATURE_VERSION: Final = "w12-c25-2x2^19-v1"

_WORDS = HashingVectorizer(
    n_features=WORD_BUCKETS,
    ngram_range=(1, 2),
    token_pattern=r"(?u)\b\w+\b",  # noqa: S106 (a regex, not a password)
    lowercase=False,
    alternate_sign=False,
    norm=None,
    dtype=np.float32,
)
_CHARS = HashingVectorizer(
    n_features=CHAR_BUCKETS,
    analyzer="char_wb",
    ngram_range=(2, 5),
    lowercase=False,
    alternate_sign=False,
    norm=None,
    dtype=np.float32,
)


def normalized(texts: Sequence[str]) -> list[str]:
    """The comparable form of each text (what the checks see as `facts.text.text`)."""
    return [normalize(text).text for text in texts]


def count_matrix(normalized_texts: Sequence[str]) -> sp.csr_matrix:
    """Sub-linear term counts (1 + log tf) in hashed buckets, one row per text."""
    counts = sp.hstack(
        [_WORDS.transform(normalized_texts), _CHARS.transform(normalized_texts)], format="csr"
    )
    counts.data = 1.0 + np.log(counts.data)
    return counts
