"""Learning from moderators: their decisions (core.review) become labels, learn_site fine-tunes
the site's models into site_models, and classifiers_for then scores that site, and only that
site, with them. On PostgreSQL and SQLite, each test rolled back."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import labels, learning, review
from core.access import Principal
from core.classify.features import count_matrix
from core.classify.linear import LinearModel
from core.classify.registry import classifiers_for, default_classifiers
from core.config import Settings
from core.privacy import PrivacyVault
from core.review import ReviewAction
from core.sites import ensure_site
from core.text.normalize import normalize
from models import Site, SiteModel, TrainingLabel
from tests.support.moderation import submitted

MODERATOR = Principal(actor="moderator:7", name="Mo", roles={})
# A scam wording the shipped spam model lets through (scores well under 0.5), as a site's
# moderators keep seeing it with small variations.
SCAM = [
    f"Recover your lost crypto wallet funds fast, contact our certified recovery agent {end}"
    for end in ("today", "now", "on telegram", "at once", "for free", "24/7", "immediately")
] + [
    f"Lost money to a fake broker? Our certified recovery agent gets wallet funds back {end}"
    for end in ("quickly", "in 48 hours", "guaranteed", "for victims", "safely")
]
HAM = [
    f"The council vote on the {topic} budget was closer than the article suggests."
    for topic in ("school", "road", "library", "parks", "transit", "water", "police")
] + [
    "I disagree with the mayor, but the reporting here is fair and well sourced.",
    "Thanks for covering the flood relief effort in such detail.",
    "Where can I read the full text of the proposal the article mentions?",
    "My neighbourhood was left out of the new bus routes again, as usual.",
    "Good piece, though the headline overstates what the study actually found.",
]
NEW_SCAM = "Certified recovery agent will recover your lost crypto wallet funds, contact him"


def spam_score(session: Session, site_id: int, text: str) -> float:
    return classifiers_for(session, site_id).scores(normalize(text).text).spam


def moderate_all(
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
    bodies: list[str],
    action: ReviewAction,
) -> list[int]:
    """Submit each body and have a moderator decide it; returns the comment ids."""
    ids = []
    for body in bodies:
        comment = submitted(session, site, vault, settings, body=body)
        review.decide(session, site.id, comment.id, action, MODERATOR)
        session.commit()
        ids.append(comment.id)
    return ids


def site_models(session: Session, site_id: int) -> dict[str, SiteModel]:
    query = select(SiteModel).where(SiteModel.site_id == site_id)
    return {model.kind: model for model in session.scalars(query)}


def results(learnt: list[learning.Learnt]) -> dict[str, tuple[Any, ...]]:
    return {r.kind: (r.trained, r.labels_used, r.positives, r.why) for r in learnt}


def test_moderators_decisions_train_the_site_spam_model(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    other = ensure_site(session, "other-paper", name="The Other Paper")
    session.commit()
    before = spam_score(session, site.id, NEW_SCAM)
    assert before < 0.5  # the default model misses it
    moderate_all(session, site, vault, settings, SCAM, ReviewAction.SPAM)
    moderate_all(session, site, vault, settings, HAM, ReviewAction.APPROVE)
    newest = session.scalar(select(TrainingLabel.id).order_by(TrainingLabel.id.desc()))

    learnt = learning.learn_site(session, site.id)
    session.commit()

    assert results(learnt)["spam"] == (True, 24, 12, "trained")
    trained, used, positives, why = results(learnt)["toxicity"]
    assert (trained, used, positives) == (False, 12, 0)
    assert "both classes" in why
    models = site_models(session, site.id)
    assert set(models) == {"spam"}
    row = models["spam"]
    assert row.labels_used == 24
    assert row.metrics == {"newest_label_id": newest, "positives": 12}
    assert row.trained_at is not None
    stored = LinearModel.from_bytes(row.payload)
    assert stored.kind == "spam"
    assert stored.meta["fine_tuned_on"] == 24

    mine = classifiers_for(session, site.id)
    assert mine.source == "site"
    assert mine.toxicity is default_classifiers().toxicity  # no toxicity labels: the default
    after = spam_score(session, site.id, NEW_SCAM)
    assert after >= 0.5 > before  # now held on this site
    assert classifiers_for(session, other.id) is default_classifiers()
    assert spam_score(session, other.id, NEW_SCAM) == before
    for text in HAM:  # the site's ordinary comments stay clean
        assert spam_score(session, site.id, text) < 0.1  # far below holding (0.9)


def test_rejections_train_the_toxicity_model(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    abuse = [f"People like you should be banned from this site, {who}" for who in "ABCDEFGHIJ"]
    moderate_all(session, site, vault, settings, abuse, ReviewAction.REJECT)
    moderate_all(session, site, vault, settings, HAM[:10], ReviewAction.APPROVE)
    learnt = learning.learn_site(session, site.id)
    session.commit()
    assert results(learnt)["toxicity"] == (True, 20, 10, "trained")
    assert results(learnt)["spam"][0] is False  # only ham: one class
    base = default_classifiers().toxicity
    tuned = classifiers_for(session, site.id).toxicity
    probe = normalize("People like you should be banned from this site").text
    counts = count_matrix([probe])
    assert float(tuned.probabilities(counts)[0]) > float(base.probabilities(counts)[0])


def test_too_few_labels_or_one_class_trains_nothing(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    moderate_all(session, site, vault, settings, SCAM[:4], ReviewAction.SPAM)
    moderate_all(session, site, vault, settings, HAM[:3], ReviewAction.APPROVE)
    learnt = results(learning.learn_site(session, site.id))
    assert learnt["spam"][:3] == (False, 7, 4)
    assert learnt["spam"][3] == "needs 10 labels with both classes (4/7)"
    assert site_models(session, site.id) == {}

    moderate_all(session, site, vault, settings, SCAM[4:12], ReviewAction.SPAM)
    spam_only = ensure_site(session, "spam-only", name="Spam Only")
    session.commit()
    for body in SCAM:
        labels.record_label(session, site_id=spam_only.id, body=body, label="spam", source="t")
    assert results(learning.learn_site(session, spam_only.id))["spam"][:3] == (False, 12, 12)
    assert site_models(session, spam_only.id) == {}
    # A lower bar, as `replyguard learn --min-labels` sets it.
    assert results(learning.learn_site(session, site.id, min_labels=5))["spam"][0] is True


def test_no_retraining_without_new_labels_unless_forced(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    moderate_all(session, site, vault, settings, SCAM[:6], ReviewAction.SPAM)
    moderate_all(session, site, vault, settings, HAM[:6], ReviewAction.APPROVE)
    assert results(learning.learn_site(session, site.id))["spam"][0] is True
    session.commit()
    first = site_models(session, site.id)["spam"].trained_at

    again = results(learning.learn_site(session, site.id))["spam"]
    assert again == (False, 12, 6, "no new labels")
    assert site_models(session, site.id)["spam"].trained_at == first

    assert results(learning.learn_site(session, site.id, force=True))["spam"][0] is True
    session.commit()
    forced = site_models(session, site.id)["spam"]
    assert forced.trained_at >= first
    assert forced.labels_used == 12

    moderate_all(session, site, vault, settings, SCAM[6:7], ReviewAction.SPAM)
    assert results(learning.learn_site(session, site.id))["spam"][:3] == (True, 13, 7)
    session.commit()
    assert len(site_models(session, site.id)) == 1  # replaced, not added


def test_a_moderator_changing_their_mind_is_learnt_as_the_newest_label(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    spam_ids = moderate_all(session, site, vault, settings, SCAM[:6], ReviewAction.SPAM)
    moderate_all(session, site, vault, settings, HAM[:6], ReviewAction.APPROVE)
    review.decide(session, site.id, spam_ids[0], ReviewAction.HAM, MODERATOR)  # not spam
    session.commit()
    learnt = results(learning.learn_site(session, site.id))
    assert learnt["spam"][:3] == (True, 12, 5)  # 13 rows, 12 comments, newest label wins


def test_sites_with_new_labels(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    other = ensure_site(session, "other-paper", name="The Other Paper")
    session.commit()
    assert site.id not in learning.sites_with_new_labels(session)
    moderate_all(session, site, vault, settings, SCAM[:6], ReviewAction.SPAM)
    moderate_all(session, site, vault, settings, HAM[:6], ReviewAction.APPROVE)
    labels.record_label(session, site_id=other.id, body=HAM[0], label="ham", source="t")
    assert {site.id, other.id} <= set(learning.sites_with_new_labels(session))

    learning.learn_site(session, site.id)
    session.commit()
    waiting = learning.sites_with_new_labels(session)
    assert site.id not in waiting
    # Labels that cannot train a model yet keep the site on the list (a cheap retry).
    assert other.id in waiting

    moderate_all(session, site, vault, settings, SCAM[6:7], ReviewAction.SPAM)
    assert site.id in learning.sites_with_new_labels(session)


def test_the_learnt_model_reaches_a_cached_classifier_set_after_retraining(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    moderate_all(session, site, vault, settings, SCAM[:5], ReviewAction.SPAM)
    moderate_all(session, site, vault, settings, HAM[:5], ReviewAction.APPROVE)
    learning.learn_site(session, site.id)
    session.commit()
    first = classifiers_for(session, site.id)
    assert classifiers_for(session, site.id) is first  # cached while trained_at is the same
    moderate_all(session, site, vault, settings, SCAM[5:], ReviewAction.SPAM)
    learning.learn_site(session, site.id)
    session.commit()
    second = classifiers_for(session, site.id)
    assert second is not first
    text = normalize(NEW_SCAM).text
    assert not np.isclose(second.scores(text).spam, first.scores(text).spam)
