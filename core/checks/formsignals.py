"""What the submitting form reported: the honeypot and the signed form token.

- The honeypot (a field hidden from people, which only bots fill in) was filled: spam.
- The form token is invalid (forged, or issued for another site or article) or expired:
  hold for a human. A real reader can end up here (a page left open for days), so never
  worse than held.
- The token is genuine but the comment came sooner after the form loaded than a person
  types (the site policy's `form_min_seconds`, 3 by default): hold, saying how soon.
  Timing alone never rejects.
- No form signals at all (an API client that sent no token): no opinion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.checks.base import Action, CheckContext, CommentFacts, Verdict

DEFAULT_MIN_SECONDS = 3.0


@dataclass(frozen=True)
class FormSignals:
    """Honeypot → spam; bad, expired or too-fast form token → held."""

    name: ClassVar[str] = "form_signals"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        signals = comment.form_signals
        if not signals:
            return None
        if signals.get("honeypot"):
            return Verdict(Action.SPAM, "the hidden honeypot field was filled in (bots do that)")
        state = signals.get("token")
        if state == "invalid":
            return Verdict.hold("the form token is not valid for this site and article")
        if state == "expired":
            return Verdict.hold("the form token has expired (the form was loaded too long ago)")
        seconds = signals.get("seconds")
        minimum = float(ctx.policy.get("form_min_seconds", DEFAULT_MIN_SECONDS))
        if state == "valid" and isinstance(seconds, int | float) and seconds < minimum:
            return Verdict.hold(f"suspicious: posted {seconds:.1f} s after the form loaded")
        return None
