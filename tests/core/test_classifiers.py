"""The trained classifiers: loading the shipped model files, what they score, the spans and
words that explain a score, the thresholds a site's policy sets, the pipeline on comments in
other languages, and per-site fine-tuning. No database: the checks get a CheckContext."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.checks import Action, CheckContext, CheckUnavailable, default_checks, run_pipeline
from core.checks.base import CommentFacts
from core.checks.classifiers import SpamClassifier, ToxicityClassifier
from core.classify import registry
from core.classify.features import FEATURE_VERSION, WORD_BUCKETS, count_matrix, normalized
from core.classify.linear import LinearModel, ModelFileError
from core.classify.registry import ClassifierSet, Scores, default_classifiers, weightiest_words
from core.classify.spans import SpanLexicon
from core.classify.train import fine_tune
from core.history import AuthorRecord
from core.sites import DEFAULT_POLICY
from core.text.normalize import normalize

CLEAR_SPAM = "Check out my channel and subscribe!"
# The shared data sets a shipped model may be trained on (CC BY 4.0, CC0, MIT).
TRAINABLE = (
    "youtube-spam/",
    "sms-spam/",
    "civil-comments-toxic-spans",
    "davidson-hate-offensive/",
)
NEWS_COMMENTS = [
    "The council should publish the budget figures before the vote next week.",
    "I disagree with the mayor, but the reporting here is fair and well sourced.",
    "Thanks for covering the flood relief effort in such detail.",
    "Where can I read the full text of the proposal the article mentions?",
    "My neighbourhood was left out of the new bus routes again, as usual.",
    "Good piece, though the headline overstates what the study actually found.",
]
# Ordinary reader comments under news articles, as a German, French, Spanish, Portuguese,
# Italian or Polish site would receive them (written for this test).
OTHER_LANGUAGES = {
    "de": [
        "Ich finde, der Stadtrat hätte die Bürger früher informieren müssen.",
        "Danke für den ausführlichen Artikel, die Zahlen zur Miete sind erschreckend.",
        "Die neue Buslinie ist eine gute Idee, aber der Takt am Abend reicht nicht.",
    ],
    "fr": [
        "Je ne suis pas d'accord avec cette décision du gouvernement.",
        "Merci pour cet article, on attend maintenant la réponse de la mairie.",
        "Le débat sur les retraites mérite mieux que ces petites phrases.",
    ],
    "es": [
        "El alcalde debería explicar por qué subieron los impuestos este año.",
        "Muy buen reportaje, ojalá hagan un seguimiento después de las elecciones.",
        "No entiendo por qué el hospital sigue sin médicos de guardia por la noche.",
    ],
    "pt": [
        "O governo precisa explicar melhor essa reforma da previdência.",
        "Ótima matéria, mas faltou ouvir os moradores do bairro afetado.",
        "A obra do metrô já atrasou dois anos e ninguém assume a responsabilidade.",
    ],
    "it": [
        "Il sindaco ha fatto bene a chiudere il centro storico al traffico.",
        "Articolo interessante, ma i dati sulla disoccupazione sono dell'anno scorso.",
        "Speriamo che la regione trovi finalmente i fondi per la scuola.",
    ],
    "pl": [
        "Rząd powinien wreszcie zająć się problemem mieszkaniowym w dużych miastach.",
        "Dziękuję za rzetelny artykuł, brakuje takich tekstów o samorządzie.",
        "Remont tej drogi trwa już trzeci rok i końca nie widać.",
    ],
}


def facts(body: str, **kwargs: Any) -> CommentFacts:
    """A comment as the checks see it; no site or history unless given."""
    return CommentFacts(
        body=body,
        author_name="A Reader",
        email="reader@example.org",
        website=None,
        ip_truncated=None,
        ip_index=None,
        user_agent=None,
        **kwargs,
    )


def probabilities(model: LinearModel, texts: list[str]) -> np.ndarray:
    return model.probabilities(count_matrix(normalized(texts)))


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """A test that swaps model files or loaders starts and ends with an empty cache."""
    default_classifiers.cache_clear()
    yield
    default_classifiers.cache_clear()


# -- loading ---------------------------------------------------------------------------------


def test_shipped_models_load_once_per_process(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[Path] = []
    real_load = LinearModel.load

    def counting_load(path: Path) -> LinearModel:
        loads.append(path)
        return real_load(path)

    monkeypatch.setattr(registry.LinearModel, "load", staticmethod(counting_load))
    first = default_classifiers()
    assert default_classifiers() is first
    assert registry.classifiers_for(None, None) is first  # no site: the defaults
    assert sorted(p.name for p in loads) == [registry.SPAM_FILE, registry.TOXICITY_FILE]
    assert first.source == "default"


def test_metadata_names_the_sources_and_the_feature_version() -> None:
    models = default_classifiers()
    assert models.spam.kind == "spam"
    assert models.toxicity.kind == "toxicity"
    assert models.spam.meta["features"] == FEATURE_VERSION
    assert models.toxicity.meta["features"] == FEATURE_VERSION
    spam_sources = models.spam.meta["sources"]
    assert any(s.startswith("youtube-spam/") for s in spam_sources)
    assert "sms-spam/SMSSpamCollection" in spam_sources
    assert "civil-comments-toxic-spans" in spam_sources  # news comments as ham
    assert "civil-comments-toxic-spans" in models.toxicity.meta["sources"]
    assert models.spans.meta is not None
    assert models.spans.meta["sources"] == ["civil-comments-toxic-spans"]
    # Only sets whose licence allows shipping a model trained on them (NOTICE lists them):
    # never the Fox News comments (kept unseen) nor the non-commercial SFU set.
    every = [*spam_sources, *models.toxicity.meta["sources"], *models.spans.meta["sources"]]
    assert every and all(source.startswith(TRAINABLE) for source in every), every
    assert models.spam.meta["examples"] > 10_000


NOTICE_HEADINGS = {
    "youtube-spam": "YouTube Spam Collection",
    "sms-spam": "SMS Spam Collection",
    "civil-comments-toxic-spans": "Civil Comments: Toxic Spans",
    "davidson-hate-offensive": "Hate Speech and Offensive Language",
}


def test_notice_attributes_every_set_the_shipped_models_were_trained_on() -> None:
    notice = (Path(__file__).resolve().parents[2] / "NOTICE").read_text(encoding="utf-8")
    trained_on, _, not_trained_on = notice.partition("Not trained on")
    models = default_classifiers()
    assert models.spans.meta is not None
    sources = [*models.spam.meta["sources"], *models.toxicity.meta["sources"]]
    for source in [*sources, *models.spans.meta["sources"]]:
        folder = source.split("/")[0].split(" ")[0]
        assert NOTICE_HEADINGS[folder] in trained_on, source
    assert "Fox News" in not_trained_on and "SFU" in not_trained_on


def _archive(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_a_model_file_of_other_features_is_refused(tmp_path: Path) -> None:
    other = _archive(
        index=np.array([1, 2], dtype=np.int32),
        idf=np.array([1.0, 1.0], dtype=np.float32),
        weights=np.array([0.5, -0.5], dtype=np.float32),
        intercept=np.array([0.0]),
        meta=np.array(json.dumps({"kind": "spam", "features": "w11-c35-2^18-v0"})),
    )
    path = tmp_path / "other.npz"
    path.write_bytes(other)
    with pytest.raises(ModelFileError, match="w11-c35-2\\^18-v0"):
        LinearModel.load(path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a zip archive at all",
        (registry.MODEL_DIR / registry.SPAM_FILE).read_bytes()[:5000],  # truncated
        _archive(meta=np.array("{}")),  # no weights
    ],
    ids=["empty", "garbage", "truncated", "no-arrays"],
)
def test_a_corrupt_model_file_raises_model_file_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spam.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError):
        LinearModel.load(path)
    with pytest.raises(ModelFileError):
        SpanLexicon.load(path)


def test_a_pickled_object_array_is_never_loaded(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array([{"kind": "spam"}], dtype=object))
    path = tmp_path / "pickle.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ModelFileError):
        LinearModel.load(path)


def test_missing_or_broken_shipped_files_make_the_checks_unavailable(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(registry, "MODEL_DIR", tmp_path)
    with pytest.raises(ModelFileError, match="cannot read"):
        default_classifiers()
    (tmp_path / registry.SPAM_FILE).write_bytes(b"corrupt")
    with pytest.raises(ModelFileError):
        registry.classifiers_for(None, None)


# -- scores ----------------------------------------------------------------------------------


def test_clear_spam_scores_high_and_news_comments_low() -> None:
    models = default_classifiers()
    spam = models.scores(normalize(CLEAR_SPAM).text).spam
    assert spam >= 0.97
    for comment in NEWS_COMMENTS:
        assert models.scores(normalize(comment).text).spam < 0.2, comment


def test_scores_of_one_text_and_of_a_batch_agree() -> None:
    models = default_classifiers()
    texts = normalized([CLEAR_SPAM, *NEWS_COMMENTS, "you are an idiot"])
    batch = models.score_many(texts)
    for text, scored in zip(texts, batch, strict=True):
        one = models.scores(text)
        assert one.spam == pytest.approx(scored.spam, abs=1e-6)
        assert one.toxicity == pytest.approx(scored.toxicity, abs=1e-6)


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("you are an idiot", "idiot"),
        ("you are an 1d10t", "1d10t"),  # leetspeak
        ("Honestly, уou are an іdiot.", "іdiot"),  # Cyrillic look-alike letters
        ("You are an IDIOT and everyone knows it", "IDIOT"),  # shouted
    ],
)
def test_toxicity_spans_point_at_the_insult_in_the_original_text(body: str, written: str) -> None:
    comment = facts(body)
    ctx = CheckContext(policy=dict(DEFAULT_POLICY), classifiers=default_classifiers())
    verdict = ToxicityClassifier().run(comment, ctx)
    assert verdict is not None
    assert verdict.action is Action.HOLD  # held for a human, not rejected by default
    assert verdict.score >= DEFAULT_POLICY["toxicity_hold_at"]
    assert [body[start:end] for start, end in verdict.spans] == [written]
    assert verdict.reason.startswith("likely insult (")
    assert f'"{written}"' in verdict.reason


def test_spans_come_only_from_the_lexicon_words() -> None:
    models = default_classifiers()
    text = normalize("The budget vote is on Tuesday, you idiot, read the article.")
    found = models.spans.find(text)
    assert [(s.word, s.kind) for s in found] == [("idiot", "insult")]
    assert models.spans.find(normalize(NEWS_COMMENTS[0])) == []


def test_weightiest_words_explain_a_spam_score() -> None:
    models = default_classifiers()
    words = weightiest_words(models.spam, normalize(CLEAR_SPAM).text)
    assert "subscribe" in words
    assert "channel" in words
    assert len(words) <= 3
    verdict = SpamClassifier().run(
        facts(CLEAR_SPAM), CheckContext(policy=dict(DEFAULT_POLICY), classifiers=models)
    )
    assert verdict is not None
    assert verdict.action is Action.SPAM
    assert verdict.reason.startswith("spam classifier scores 1.00; words that weigh most: ")
    assert '"subscribe"' in verdict.reason


def test_weightiest_words_use_the_same_buckets_as_the_features() -> None:
    """The explanation hashes words itself: it must land where the vectorizer does."""
    for word in ("subscribe", "channel", "idiot", "crypto", "burgermeister"):
        counts = count_matrix([word])
        [bucket] = [i for i in counts.indices if i < WORD_BUCKETS]  # the word, not its chars
        weights = np.zeros(counts.shape[1], dtype=np.float32)
        weights[bucket] = 1.0
        model = LinearModel("spam", np.ones(counts.shape[1], dtype=np.float32), weights, 0.0)
        assert weightiest_words(model, f"{word} and more") == [word]


# -- thresholds from the site's policy -------------------------------------------------------


@dataclass
class FixedScores:
    """Classifiers whose scores the test chooses (the real models for words and spans)."""

    spam_score: float
    toxicity_score: float

    def __post_init__(self) -> None:
        real = default_classifiers()
        self.spam = real.spam
        self.spans = real.spans

    def scores(self, normalized_text: str) -> Scores:
        return Scores(self.spam_score, self.toxicity_score)


@dataclass
class RecordOf:
    """A history that only knows the author's record."""

    record: AuthorRecord

    def author_record(self, site_id: int, email_index: bytes) -> AuthorRecord:
        return self.record


def spam_action(score: float, policy: dict[str, Any] | None = None, **ctx: Any) -> Action | None:
    context = CheckContext(
        policy={**DEFAULT_POLICY, **(policy or {})}, classifiers=FixedScores(score, 0.0), **ctx
    )
    verdict = SpamClassifier().run(facts("some text", site_id=1, email_index=b"x" * 32), context)
    return verdict.action if verdict else None


def toxicity_action(score: float, policy: dict[str, Any] | None = None) -> Action | None:
    context = CheckContext(
        policy={**DEFAULT_POLICY, **(policy or {})}, classifiers=FixedScores(0.0, score)
    )
    verdict = ToxicityClassifier().run(facts("you are an idiot"), context)
    return verdict.action if verdict else None


@pytest.mark.parametrize(
    ("score", "policy", "expected"),
    [
        (0.89, None, None),
        (0.9, None, Action.HOLD),
        (0.994, None, Action.HOLD),
        (0.995, None, Action.SPAM),
        (0.7, {"spam_hold_at": 0.8}, None),
        (0.9, {"spam_at": 0.85}, Action.SPAM),
        (0.99, {"spam_hold_at": None}, None),  # holding switched off; spam still at 0.995
        (0.999, {"spam_hold_at": None}, Action.SPAM),
        (0.99, {"spam_at": None}, Action.HOLD),  # never spam, only held
        (0.99, {"spam_at": None, "spam_hold_at": None}, None),
    ],
)
def test_spam_thresholds_come_from_the_policy(
    score: float, policy: dict[str, Any] | None, expected: Action | None
) -> None:
    assert spam_action(score, policy) is expected


def test_trust_raises_the_hold_threshold_but_never_exempts() -> None:
    # A moderator marked the author trusted: no longer held, still spam at spam_at.
    assert spam_action(0.994, author_standing="trust") is None
    assert spam_action(0.995, author_standing="trust") is Action.SPAM
    # A record of 20 approved comments: trust 0.8, hold from 0.9 + 0.095 * 0.6 * 0.8 ≈ 0.9456.
    good = RecordOf(AuthorRecord(approved=20))
    assert spam_action(0.94, history=good) is None
    assert spam_action(0.95, history=good) is Action.HOLD
    # A bad record earns nothing.
    bad = RecordOf(AuthorRecord(approved=20, spam=4))
    assert spam_action(0.91, history=bad) is Action.HOLD


@pytest.mark.parametrize(
    ("score", "policy", "expected"),
    [
        (0.69, None, None),  # the sites default: hold at 0.7
        (0.7, None, Action.HOLD),
        (0.999, None, Action.HOLD),  # never rejected unless the site opted in
        (0.95, {"toxicity_reject_at": 0.9}, Action.REJECT),
        (0.85, {"toxicity_reject_at": 0.9}, Action.HOLD),
        (0.6, {"toxicity_hold_at": 0.5}, Action.HOLD),
        (0.85, {"toxicity_hold_at": None, "toxicity_reject_at": 0.9}, None),
        (0.95, {"toxicity_hold_at": None, "toxicity_reject_at": 0.9}, Action.REJECT),
        (0.99, {"toxicity_hold_at": None}, None),
    ],
)
def test_toxicity_thresholds_come_from_the_policy(
    score: float, policy: dict[str, Any] | None, expected: Action | None
) -> None:
    assert toxicity_action(score, policy) is expected


# -- the pipeline ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "body"),
    [(language, body) for language, bodies in OTHER_LANGUAGES.items() for body in bodies],
)
@pytest.mark.parametrize("reject_opt_in", [False, True])
def test_news_comments_in_other_languages_are_never_spam_or_rejected(
    language: str, body: str, reject_opt_in: bool
) -> None:
    policy = {**DEFAULT_POLICY, "toxicity_reject_at": 0.9 if reject_opt_in else None}
    ctx = CheckContext(policy=policy, classifiers=default_classifiers())
    result = run_pipeline(default_checks(), facts(body), ctx)
    assert result.action is Action.APPROVE, (language, result.reason)
    verdicts = dict(result.verdicts)
    assert verdicts["spam_classifier"] is None
    assert verdicts["toxicity"] is None


def test_without_classifiers_the_checks_raise_check_unavailable() -> None:
    ctx = CheckContext(policy=dict(DEFAULT_POLICY), classifiers=None)
    with pytest.raises(CheckUnavailable, match="spam model"):
        SpamClassifier().run(facts(CLEAR_SPAM), ctx)
    with pytest.raises(CheckUnavailable, match="toxicity model"):
        ToxicityClassifier().run(facts("you are an idiot"), ctx)
    with pytest.raises(CheckUnavailable):  # the worker retries, then holds for a human
        run_pipeline(default_checks(), facts(NEWS_COMMENTS[0]), ctx)


def test_shadow_classifiers_without_models_have_no_opinion() -> None:
    policy = {**DEFAULT_POLICY, "shadow_checks": ["spam_classifier", "toxicity"]}
    result = run_pipeline(
        default_checks(), facts(NEWS_COMMENTS[0]), CheckContext(policy=policy, classifiers=None)
    )
    assert result.action is Action.APPROVE
    assert dict(result.verdicts)["spam_classifier"] is None
    assert result.shadow == {"spam_classifier", "toxicity"}


def test_shadow_spam_classifier_is_recorded_but_does_not_decide() -> None:
    policy = {**DEFAULT_POLICY, "shadow_checks": ["spam_classifier"]}
    ctx = CheckContext(policy=policy, classifiers=default_classifiers())
    result = run_pipeline(default_checks(), facts(CLEAR_SPAM), ctx)
    verdict = dict(result.verdicts)["spam_classifier"]
    assert verdict is not None and verdict.action is Action.SPAM
    assert result.action is Action.APPROVE


# -- files and fine-tuning -------------------------------------------------------------------


def test_save_and_load_give_identical_probabilities(tmp_path: Path) -> None:
    texts = [CLEAR_SPAM, *NEWS_COMMENTS, "you are an 1d10t"]
    models = default_classifiers()
    for model in (models.spam, models.toxicity):
        path = tmp_path / f"{model.kind}.npz"
        model.save(path)
        loaded = LinearModel.load(path)
        assert loaded.kind == model.kind
        assert loaded.meta == {**model.meta, "kind": model.kind, "features": FEATURE_VERSION}
        assert np.array_equal(probabilities(loaded, texts), probabilities(model, texts))
        again = LinearModel.from_bytes(loaded.to_bytes())
        assert np.array_equal(probabilities(again, texts), probabilities(model, texts))
    models.spans.save(tmp_path / "spans.npz")
    lexicon = SpanLexicon.load(tmp_path / "spans.npz")
    assert lexicon.shares == pytest.approx(models.spans.shares)
    assert lexicon.kinds == models.spans.kinds
    assert lexicon.threshold == models.spans.threshold


# A scam wording the shipped spam model lets through, and what a site's moderators marked.
RECOVERY_SCAM = [
    f"Recover your lost crypto wallet funds fast, contact our certified recovery agent {end}"
    for end in ("today", "now", "on telegram", "at once", "for free", "24/7", "immediately")
] + [
    f"Lost money to a fake broker? Our certified recovery agent gets wallet funds back {end}"
    for end in ("quickly", "in 48 hours", "guaranteed", "for victims", "safely")
]
SITE_HAM = [
    f"The council vote on the {topic} budget was closer than the article suggests."
    for topic in ("school", "road", "library", "parks", "transit", "water", "police")
] + NEWS_COMMENTS[1:]
NEW_SCAM = "Certified recovery agent will recover your lost crypto wallet funds, contact him"
UNRELATED = [
    NEWS_COMMENTS[0],
    "I think the referee made the right call in the second half.",
    "Win a free iPhone now, click here",
    CLEAR_SPAM,
    "Die Stadt sollte mehr Radwege bauen.",
]


def test_fine_tune_without_labels_keeps_the_base_model() -> None:
    base = default_classifiers().spam
    same = fine_tune(base, [], [], prior_strength=0.5)
    assert same is not base and same.weights is not base.weights
    assert same.meta["fine_tuned_on"] == 0
    texts = [*UNRELATED, NEW_SCAM]
    assert np.array_equal(probabilities(same, texts), probabilities(base, texts))
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        fine_tune(base, ["a", "b"], [1])


def test_fine_tune_moves_scores_toward_a_few_labels_only() -> None:
    base = default_classifiers().spam
    before = probabilities(base, [NEW_SCAM, *UNRELATED])
    assert before[0] < 0.2  # the shipped model misses this wording
    tuned = fine_tune(
        base,
        RECOVERY_SCAM + SITE_HAM,
        [1] * len(RECOVERY_SCAM) + [0] * len(SITE_HAM),
        prior_strength=0.5,
    )
    after = probabilities(tuned, [NEW_SCAM, *UNRELATED])
    assert after[0] >= 0.5  # an unseen variation is now held
    assert np.all(probabilities(tuned, RECOVERY_SCAM) > 0.7)
    assert np.all(probabilities(tuned, SITE_HAM) < 0.1)
    assert np.abs(after[1:] - before[1:]).max() < 0.05  # unrelated texts barely move
    assert tuned.intercept == base.intercept
    assert tuned.meta["fine_tuned_on"] == len(RECOVERY_SCAM) + len(SITE_HAM)
    assert tuned.meta["sources"] == base.meta["sources"]
    # The base model is untouched (it is the process-wide shipped one).
    assert np.array_equal(probabilities(base, [NEW_SCAM]), before[:1])


def test_a_fine_tuned_model_round_trips_through_bytes() -> None:
    base = default_classifiers().spam
    tuned = fine_tune(base, RECOVERY_SCAM[:3] + SITE_HAM[:3], [1, 1, 1, 0, 0, 0])
    again = LinearModel.from_bytes(tuned.to_bytes())
    texts = [NEW_SCAM, *UNRELATED]
    assert np.array_equal(probabilities(again, texts), probabilities(tuned, texts))


def test_a_site_classifier_set_scores_with_its_own_spam_model() -> None:
    defaults = default_classifiers()
    tuned = fine_tune(
        defaults.spam, RECOVERY_SCAM + SITE_HAM, [1] * len(RECOVERY_SCAM) + [0] * len(SITE_HAM)
    )
    site = ClassifierSet(tuned, defaults.toxicity, defaults.spans, source="site")
    text = normalize(NEW_SCAM).text
    assert site.scores(text).spam > defaults.scores(text).spam
    assert site.scores(text).toxicity == defaults.scores(text).toxicity
