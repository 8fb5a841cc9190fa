"""A logistic-regression text model stored as plain arrays.

The file is a NumPy `.npz` archive read with `allow_pickle=False` (a model file can
never run code): inverse document frequencies and weights for the hashed buckets the
training data used (stored sparse), the intercept, and a JSON metadata string naming
the training data, its licences and the metrics measured when it was trained.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from core.classify.features import FEATURE_VERSION, N_FEATURES


class ModelFileError(Exception):
    """The model file is missing, corrupt or made for other features."""


@dataclass
class LinearModel:
    """P(positive | text) = sigmoid(w · l2norm(idf ⊙ counts) + b)."""

    kind: str
    idf: np.ndarray  # float32, N_FEATURES
    weights: np.ndarray  # float32, N_FEATURES
    intercept: float
    meta: dict[str, Any] = field(default_factory=dict)

    def decision(self, counts: sp.csr_matrix) -> np.ndarray:
        """The logit for each row of `core.classify.features.count_matrix` output."""
        weighted = counts.multiply(self.idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        raw = np.asarray(weighted @ self.weights).ravel()
        logits: np.ndarray = raw / norms + self.intercept
        return logits

    def probabilities(self, counts: sp.csr_matrix) -> np.ndarray:
        """P(positive) for each row."""
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(-self.decision(counts)))
        return probabilities

    def to_bytes(self) -> bytes:
        """The `.npz` archive (also what a per-site model stores in the database)."""
        used = np.flatnonzero((self.weights != 0) | (self.idf != 0)).astype(np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            index=used,
            idf=self.idf[used].astype(np.float32),
            weights=self.weights[used].astype(np.float32),
            intercept=np.array([self.intercept], dtype=np.float64),
            meta=np.array(
                json.dumps({**self.meta, "kind": self.kind, "features": FEATURE_VERSION})
            ),
        )
        return buffer.getvalue()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                meta = json.loads(str(archive["meta"]))
                index = archive["index"]
                idf = np.zeros(N_FEATURES, dtype=np.float32)
                weights = np.zeros(N_FEATURES, dtype=np.float32)
                idf[index] = archive["idf"]
                weights[index] = archive["weights"]
                intercept = float(archive["intercept"][0])
        # An empty file is an EOFError, a truncated one a BadZipFile: both just corrupt.
        except (OSError, ValueError, KeyError, IndexError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"not a model file: {exc or type(exc).__name__}") from exc
        if meta.get("features") != FEATURE_VERSION:
            raise ModelFileError(
                f"model made for features {meta.get('features')!r}, not {FEATURE_VERSION!r}"
            )
        return cls(str(meta.get("kind", "")), idf, weights, intercept, meta)

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read {path}: {exc}") from exc
        return cls.from_bytes(data)
