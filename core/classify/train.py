"""Fitting the linear models: from scratch on labelled examples, and per site on top of
the shipped model from moderators' labels.

From scratch: smoothed inverse document frequencies over the training texts, then an
L2-regularised logistic regression (scikit-learn's lbfgs) on the l2-normalised TF-IDF
rows. Per site: the shipped model's weights are the prior, and only the difference is
learnt, penalised by `prior_strength * ||w - w0||²`. A handful of corrections therefore
moves the model just as far as they justify, and a site with no labels keeps exactly the
shipped model.

The intercept is not re-learnt per site. Moderators label what the pipeline held or got
wrong, so the share of spam among a site's labels says nothing about the share of spam in
its traffic; learning the intercept from them (half spam, say) would raise the score of
every comment of the site, the unrelated ones included. Only the buckets of the labelled
texts move.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from core.classify.features import N_FEATURES, count_matrix, normalized
from core.classify.linear import LinearModel


def _tfidf_rows(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    weighted = counts.multiply(idf).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms) @ weighted


def fit(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    kind: str,
    c: float = 10.0,
    class_weight: str | None = None,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    """A model trained on `texts` (raw; normalised here) with 0/1 `labels`."""
    y = np.asarray(labels, dtype=np.int8)
    if len(set(y.tolist())) < 2:
        raise ValueError("training needs both positive and negative examples")
    counts = count_matrix(normalized(texts))
    document_frequency = np.bincount(counts.indices, minlength=N_FEATURES)
    n = counts.shape[0]
    idf = np.where(
        document_frequency > 0, np.log((1 + n) / (1 + document_frequency)) + 1.0, 0.0
    ).astype(np.float32)
    rows = _tfidf_rows(counts, idf)
    regression = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight)
    regression.fit(rows, y)
    weights = regression.coef_.ravel().astype(np.float32)
    return LinearModel(
        kind, idf, weights, float(regression.intercept_[0]), {**(meta or {}), "examples": n}
    )


def fine_tune(
    base: LinearModel,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    prior_strength: float = 1.0,
    meta: dict[str, Any] | None = None,
) -> LinearModel:
    """The base model adjusted to these labels (see the module docstring).

    Minimises sum(logloss) + prior_strength/2 * ||delta||² over the buckets the labelled
    texts use; buckets they do not use, and the intercept, keep the base values. No labels:
    a copy of the base model (identical scores)."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    extra = {**base.meta, **(meta or {}), "fine_tuned_on": len(labels)}
    if not texts:
        return LinearModel(base.kind, base.idf, base.weights.copy(), base.intercept, extra)
    y = np.asarray(labels, dtype=np.float64)
    counts = count_matrix(normalized(texts))
    rows = _tfidf_rows(counts, base.idf)
    active = np.unique(rows.indices)
    x = rows[:, active].tocsr()
    base_logit = np.asarray(rows @ base.weights).ravel() + base.intercept

    def loss(delta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = base_logit + x @ delta
        # log(1 + e^z) - y z, computed stably; gradient sigmoid(z) - y.
        value = float(np.sum(np.logaddexp(0.0, logit) - y * logit))
        residual = 1.0 / (1.0 + np.exp(-logit)) - y
        value += 0.5 * prior_strength * float(delta @ delta)
        gradient = x.T @ residual + prior_strength * delta
        return value, gradient

    start = np.zeros(len(active))
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    weights = base.weights.copy()
    weights[active] += result.x.astype(np.float32)
    return LinearModel(base.kind, base.idf, weights, base.intercept, extra)
