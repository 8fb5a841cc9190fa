"""Run the checks in order and combine their verdicts under the site's policy.

Every check runs (so the audit trail shows each one's opinion); the most severe verdict
wins (spam > reject > hold > approve), ties going to the earlier check. No verdict at all
means approve.

Shadow mode: the checks a site lists in its policy's `shadow_checks` run and are
recorded like the others, but their verdicts never count toward the decision, so a site
can watch what a rule or a stricter threshold would do on live traffic before switching
it on. A shadow check that cannot run is recorded as having no opinion instead of holding
the comment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core.checks.base import Action, Check, CheckContext, CheckUnavailable, CommentFacts, Verdict
from core.checks.classifiers import SpamClassifier, ToxicityClassifier
from core.checks.contacts import ContactHandles
from core.checks.formsignals import FormSignals
from core.checks.history import AuthorTrust, Flood, NearDuplicates
from core.checks.links import LinkReputation, MaxLinks
from core.checks.personal_data import PersonalData
from core.checks.standing import AuthorBanned, PreModeration
from core.checks.words import DisallowedWords, ModerationWords


def default_checks() -> list[Check]:
    """The documented order: what moderators decided and exact rules first, then the
    signals from history, then the models; specific reasons before general ones, since a
    tie goes to the earlier check."""
    return [
        AuthorBanned(),
        FormSignals(),
        DisallowedWords(),
        ModerationWords(),
        LinkReputation(),
        ContactHandles(),
        MaxLinks(),
        Flood(),
        NearDuplicates(),
        SpamClassifier(),
        ToxicityClassifier(),
        PersonalData(),
        AuthorTrust(),
        PreModeration(),
    ]


def check_names() -> list[str]:
    """The names a site may list in `shadow_checks`."""
    return [check.name for check in default_checks()]


@dataclass(frozen=True)
class PipelineResult:
    """The combined action, the reason behind it, each check's verdict in order, and which
    of them ran in shadow mode."""

    action: Action
    reason: str
    decided_by: str
    verdicts: list[tuple[str, Verdict | None]]
    shadow: frozenset[str] = field(default_factory=frozenset)


def run_pipeline(
    checks: Sequence[Check], comment: CommentFacts, ctx: CheckContext
) -> PipelineResult:
    """Run every check; CheckUnavailable from an acting check propagates so the task can
    retry, then hold for a human."""
    shadow = frozenset(ctx.policy.get("shadow_checks") or ())
    verdicts: list[tuple[str, Verdict | None]] = []
    for check in checks:
        if check.name in shadow:
            try:
                verdicts.append((check.name, check.run(comment, ctx)))
            except CheckUnavailable:
                verdicts.append((check.name, None))
        else:
            verdicts.append((check.name, check.run(comment, ctx)))
    decisive: tuple[str, Verdict] | None = None
    for name, verdict in verdicts:
        if verdict is None or name in shadow:
            continue
        if decisive is None or verdict.action.severity > decisive[1].action.severity:
            decisive = (name, verdict)
    used = shadow & {name for name, _ in verdicts}
    if decisive is None:
        return PipelineResult(Action.APPROVE, "no check objected", "pipeline", verdicts, used)
    name, verdict = decisive
    return PipelineResult(verdict.action, verdict.reason, f"check:{name}", verdicts, used)
