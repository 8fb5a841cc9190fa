"""Run the checks in order and combine their verdicts.

Every check runs (so the audit trail shows each one's opinion); the most severe verdict
wins (spam > reject > hold > approve), ties going to the earlier check. No verdict at all
means approve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.checks.base import Action, Check, CheckContext, CommentFacts, Verdict
from core.checks.formsignals import FormSignals
from core.checks.links import MaxLinks
from core.checks.standing import AuthorBanned, PreModeration
from core.checks.words import DisallowedWords, ModerationWords


def default_checks() -> list[Check]:
    """The documented order: most decisive first."""
    return [
        AuthorBanned(),
        FormSignals(),
        DisallowedWords(),
        ModerationWords(),
        MaxLinks(),
        PreModeration(),
    ]


@dataclass(frozen=True)
class PipelineResult:
    """The combined action, the reason behind it, and each check's verdict in order."""

    action: Action
    reason: str
    decided_by: str
    verdicts: list[tuple[str, Verdict | None]]


def run_pipeline(
    checks: Sequence[Check], comment: CommentFacts, ctx: CheckContext
) -> PipelineResult:
    """Run every check; CheckUnavailable propagates so the task can retry, then hold."""
    verdicts: list[tuple[str, Verdict | None]] = [(c.name, c.run(comment, ctx)) for c in checks]
    decisive: tuple[str, Verdict] | None = None
    for name, verdict in verdicts:
        if verdict is not None and (
            decisive is None or verdict.action.severity > decisive[1].action.severity
        ):
            decisive = (name, verdict)
    if decisive is None:
        return PipelineResult(Action.APPROVE, "no check objected", "pipeline", verdicts)
    name, verdict = decisive
    return PipelineResult(verdict.action, verdict.reason, f"check:{name}", verdicts)
