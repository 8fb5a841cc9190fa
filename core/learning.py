"""Learning from moderators: each site's spam and toxicity models, fine-tuned on the
labels its moderators' decisions produced (core.labels), as Akismet learns from
submit-spam and submit-ham.

Spam learns from "spam" (positive) and "ham" (negative) labels; toxicity from "abuse"
(a rejection, positive) and "ham". A model is (re)trained when the site has at least
`min_labels` current labels of that model's classes, both classes among them, and new
labels since the last training; the fine-tuned model replaces the site's previous one in
`site_models`, and every worker picks it up on its next comment (core.classify.registry).
Training always starts again from the shipped model over all the site's current labels,
so a moderator's change of mind is learnt as the newest label, not added on top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import labels
from core.classify.registry import default_classifiers
from core.classify.train import fine_tune
from models import SiteModel, TrainingLabel
from models.base import utcnow

log = logging.getLogger(__name__)

MIN_LABELS = 10
# How strongly the shipped weights hold (core.classify.train.fine_tune): measured on the
# quality benchmark's correction curve, see docs/classifiers.md.
PRIOR_STRENGTH = 0.1
POSITIVE = {"spam": "spam", "toxicity": "abuse"}


@dataclass(frozen=True)
class Learnt:
    site_id: int
    kind: str
    labels_used: int
    positives: int
    trained: bool
    why: str


def _current_labels(session: Session, site_id: int) -> list[TrainingLabel]:
    rows: list[TrainingLabel] = []
    since = 0
    while True:
        page = labels.labels_for_site(session, site_id, since_id=since, limit=labels.MAX_PAGE)
        rows.extend(page)
        if len(page) < labels.MAX_PAGE:
            return rows
        since = page[-1].id


def learn_site(
    session: Session, site_id: int, *, min_labels: int = MIN_LABELS, force: bool = False
) -> list[Learnt]:
    """Fine-tune the site's models where its labels allow; the caller commits."""
    current = _current_labels(session, site_id)
    newest = max((row.id for row in current), default=0)
    existing = {
        model.kind: model
        for model in session.scalars(select(SiteModel).where(SiteModel.site_id == site_id))
    }
    results = []
    defaults = default_classifiers()
    for kind, positive in POSITIVE.items():
        chosen = [row for row in current if row.label in (positive, "ham")]
        positives = sum(row.label == positive for row in chosen)
        model = existing.get(kind)
        seen = int((model.metrics or {}).get("newest_label_id", 0)) if model else 0
        if len(chosen) < min_labels or positives == 0 or positives == len(chosen):
            why = f"needs {min_labels} labels with both classes ({positives}/{len(chosen)})"
            results.append(Learnt(site_id, kind, len(chosen), positives, False, why))
            continue
        if not force and model is not None and seen >= newest:
            results.append(Learnt(site_id, kind, len(chosen), positives, False, "no new labels"))
            continue
        base = defaults.spam if kind == "spam" else defaults.toxicity
        tuned = fine_tune(
            base,
            [row.body for row in chosen],
            [int(row.label == positive) for row in chosen],
            prior_strength=PRIOR_STRENGTH,
        )
        metrics = {"newest_label_id": newest, "positives": positives}
        if model is None:
            model = SiteModel(site_id=site_id, kind=kind)
            session.add(model)
        model.payload = tuned.to_bytes()
        model.labels_used = len(chosen)
        model.trained_at = utcnow()
        model.metrics = metrics
        session.flush()
        log.info("site model trained", extra={"site_id": site_id, "kind": kind})
        results.append(Learnt(site_id, kind, len(chosen), positives, True, "trained"))
    return results


def sites_with_new_labels(session: Session) -> list[int]:
    """Sites whose newest label is newer than what their models were trained on (or that
    have labels and no model yet)."""
    newest: dict[int, int] = {
        site_id: int(last)
        for site_id, last in session.execute(
            select(TrainingLabel.site_id, func.max(TrainingLabel.id)).group_by(
                TrainingLabel.site_id
            )
        )
    }
    trained: dict[int, int] = {}
    for model in session.scalars(select(SiteModel)):
        seen = int((model.metrics or {}).get("newest_label_id", 0))
        trained[model.site_id] = min(trained.get(model.site_id, seen), seen)
    return sorted(site for site, last in newest.items() if trained.get(site, 0) < last)
