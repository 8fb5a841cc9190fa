"""The trained classifiers as checks: spam and toxicity, each explained.

Spam: at or above `spam_hold_at` the comment is held, at or above `spam_at` it is spam;
the reason names the score and the words that weighed most. An author with a record of
approved comments (core.checks.history.trust_level) needs a higher score to be held, and
one a moderator marked as trusted is held by this check no more (but still marked spam
at `spam_at`): trust lowers suspicion, it never skips the check.

Toxicity (insults, threats, identity attacks, profanity): at or above
`toxicity_hold_at` the comment is held for a moderator with the offending words as
spans. It is rejected only when the site opted in with `toxicity_reject_at`; by
default heated comments are a moderator's call, not a model's.

Without models (files missing, unreadable) both raise CheckUnavailable: the comment is
held for a human, never approved because a model was missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.checks.base import Action, CheckContext, CheckUnavailable, CommentFacts, Verdict

SPAM_HOLD_AT = 0.9
SPAM_AT = 0.995
TOXICITY_HOLD_AT = 0.7
# How far full trust raises the spam hold threshold towards SPAM_AT.
TRUST_RELIEF = 0.6


def _classifiers(ctx: CheckContext, what: str):  # type: ignore[no-untyped-def]
    if ctx.classifiers is None:
        raise CheckUnavailable(f"the {what} model is not loaded")
    return ctx.classifiers


def _trust(ctx: CheckContext, comment: CommentFacts) -> float:
    history = ctx.history
    if history is None or comment.site_id is None or comment.email_index is None:
        return 0.0
    from core.checks.history import trust_level  # the history check owns the rule

    return trust_level(history.author_record(comment.site_id, comment.email_index))


def _threshold(ctx: CheckContext, key: str, default: float) -> float | None:
    value = ctx.policy.get(key, default)
    if value is None or value is False:
        return None
    return float(value)


def _quoted(words: list[str]) -> str:
    return ", ".join(f'"{word}"' for word in words)


@dataclass(frozen=True)
class SpamClassifier:
    """Fluent link spam, channel promotion, scams: what word lists don't anticipate."""

    name: ClassVar[str] = "spam_classifier"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        from core.classify.registry import weightiest_words

        classifiers = _classifiers(ctx, "spam")
        score = classifiers.scores(comment.text.text).spam
        spam_at = _threshold(ctx, "spam_at", SPAM_AT)
        hold_at = _threshold(ctx, "spam_hold_at", SPAM_HOLD_AT)
        if spam_at is not None and score >= spam_at:
            action = Action.SPAM
        elif hold_at is not None:
            ceiling = spam_at if spam_at is not None else 1.0
            # A moderator's explicit trust: only what is certainly spam still counts.
            relief = 1.0 if ctx.author_standing == "trust" else TRUST_RELIEF * _trust(ctx, comment)
            relieved = hold_at + (ceiling - hold_at) * relief
            if score < relieved:
                return None
            action = Action.HOLD
        else:
            return None
        words = weightiest_words(classifiers.spam, comment.text.text)
        because = f"; words that weigh most: {_quoted(words)}" if words else ""
        return Verdict(action, f"spam classifier scores {score:.2f}{because}", score)


@dataclass(frozen=True)
class ToxicityClassifier:
    """Insults, threats, identity attacks and profanity, with the words that carry them."""

    name: ClassVar[str] = "toxicity"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        classifiers = _classifiers(ctx, "toxicity")
        score = classifiers.scores(comment.text.text).toxicity
        hold_at = _threshold(ctx, "toxicity_hold_at", TOXICITY_HOLD_AT)
        reject_at = _threshold(ctx, "toxicity_reject_at", 0.0) or None
        below_hold = hold_at is None or score < hold_at
        if below_hold and (reject_at is None or score < reject_at):
            return None
        found = classifiers.spans.find(comment.text)
        kinds = sorted({span.kind for span in found if span.kind})
        label = " / ".join(kinds) if kinds else "toxicity"
        words = _quoted(list(dict.fromkeys(comment.body[s.start : s.end] for s in found))[:5])
        reason = f"likely {label} ({score:.2f})" + (f": {words}" if words else "")
        action = Action.REJECT if reject_at is not None and score >= reject_at else Action.HOLD
        return Verdict(action, reason, score, tuple((s.start, s.end) for s in found))
