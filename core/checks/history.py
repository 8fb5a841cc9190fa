"""History checks: what earlier comments on the site say about this one.

Each check asks `ctx.history` (a core.history.HistoryView: the database in the worker, a
MemoryHistory in the backtest) and stays pure: no writes. Each returns None when there is
no history (ctx.history None) or the comment has no site or time (the Akismet-compatible
oracle's unstored comments). A moderator-trusted author (ctx.author_standing == "trust")
is not held for posting often or for repeating what others said.

- `Flood` ("flood"): too many comments in a window from one IP address, one email, or on
  the whole site (a surge) → hold. The submit path already refuses a second comment within
  `flood_seconds`; this is the slower-rate signal. Limits grow with the author's record
  before the burst (`trust_level`, not counting the approved comments inside the window):
  an author with a good record gets up to twice the per-IP and per-email allowance, and
  from trust 0.5 on is not held by the site-wide surge rule at all.
- `NearDuplicates` ("duplicates"): the same or nearly the same text (same body hash, or
  SimHash within 3 bits, core.text.fingerprint) posted by *other* authors in a window:
  one other author → hold; two or more, or a copy of a comment already marked spam → spam.
  Short texts ("Thank you for this article") are legitimately repeated by strangers, so
  below `duplicates_spam_min_words` words the verdict is at most hold, and below
  `duplicates_min_words` there is none.
- `AuthorTrust` ("author_trust"): the author's record on the site. A good record (enough
  approved, none rejected or spam) → an APPROVE verdict whose reason explains it and
  whose score is the trust level; under most-severe-wins it never overrides a spam or
  abuse check. A bad record (at least `trust_hold_after_bad` rejected or spam, more than
  approved) → hold: a human looks again rather than the pipeline repeating a possibly
  wrong automatic verdict with more severity (ban is a moderator's decision, AuthorBanned).

Policy keys (defaults in POLICY_DEFAULTS; 0 disables a limit):
flood_window_minutes, flood_max_per_ip, flood_max_per_email, flood_max_per_site,
duplicates_window_days, duplicates_hold_authors, duplicates_spam_authors,
duplicates_min_words, duplicates_spam_min_words, trust_min_approved, trust_hold_after_bad.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from core.checks.base import Action, CheckContext, CommentFacts, Verdict
from core.history import AuthorRecord, HistoryView, Match, signature_of

POLICY_DEFAULTS: dict[str, Any] = {
    "flood_window_minutes": 10,
    # Comments (this one included) allowed in the window before holding. A shared address
    # (office, campus, mobile carrier NAT) carries several readers, hence more than per email.
    "flood_max_per_ip": 10,
    "flood_max_per_email": 6,
    # A surge across the whole site (a botnet on many addresses). A busy newsroom's normal
    # peak is well under 100 comments a minute; the default only trips far beyond that.
    "flood_max_per_site": 1000,
    "duplicates_window_days": 7,
    "duplicates_hold_authors": 1,  # other authors with the same text → hold
    "duplicates_spam_authors": 4,  # ... → spam (as is copying a comment marked spam); 4, not
    # fewer: canned replies ("Sorry, I can't talk now, call you later") recur innocently
    "duplicates_min_words": 3,  # shorter texts ("First!", "Well said") are not compared
    "duplicates_spam_min_words": 6,  # shorter texts are at most held
    "trust_min_approved": 3,  # approved comments, none rejected or spam → approve verdict
    "trust_hold_after_bad": 2,  # rejected + spam comments (more than approved) → hold
}

TRUST_SATURATION = 5  # net approved comments at which trust reaches 0.5
BAD_WEIGHT = 5  # one rejected or spam comment outweighs this many approved ones


def policy_value(ctx: CheckContext, key: str) -> int:
    """A history policy value from the site's policy, else its default."""
    return int(ctx.policy.get(key, POLICY_DEFAULTS[key]))


def trust_level(record: AuthorRecord) -> float:
    """How far an author's record earns relaxed limits: 0 (unknown or bad) up to 1.

    Approved comments count, each rejected or spam one cancels BAD_WEIGHT of them, held
    ones count for nothing; the net n gives n / (n + TRUST_SATURATION): 3 approved → 0.375,
    5 → 0.5, 20 → 0.8."""
    net = max(0, record.approved - BAD_WEIGHT * record.bad)
    return net / (net + TRUST_SATURATION)


def _history(comment: CommentFacts, ctx: CheckContext) -> HistoryView | None:
    if ctx.history is None or comment.site_id is None or comment.submitted_at is None:
        return None
    history: HistoryView = ctx.history
    return history


def _span(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return "24 hours" if days == 1 else f"{days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


@dataclass(frozen=True)
class Flood:
    """Hold comments that arrive faster than the site allows, per IP, email or site-wide."""

    name: ClassVar[str] = "flood"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        history = _history(comment, ctx)
        if history is None or ctx.author_standing == "trust":
            return None
        assert comment.site_id is not None and comment.submitted_at is not None
        minutes = policy_value(ctx, "flood_window_minutes")
        per_ip = policy_value(ctx, "flood_max_per_ip")
        per_email = policy_value(ctx, "flood_max_per_email")
        per_site = policy_value(ctx, "flood_max_per_site")
        if minutes <= 0:
            return None
        # Counts only need to reach twice the most generous limit (fully trusted authors).
        cap = 2 * max(per_ip, per_email, per_site, 1) + 1
        counts = history.count_since(
            site_id=comment.site_id,
            since=comment.submitted_at - dt.timedelta(minutes=minutes),
            until=comment.submitted_at,
            whole_site=per_site > 0,
            ip_index=comment.ip_index if per_ip > 0 else None,
            email_index=comment.email_index if per_email > 0 else None,
            cap=cap,
        )
        # (earlier comments + this one, limit, what it is about), most specific first.
        measured = [
            (counts.ip, per_ip, "from this IP address"),
            (counts.email, per_email, "from this email address"),
            (counts.site, per_site, "on the whole site"),
        ]
        over = [(n + 1, limit, what) for n, limit, what in measured if n is not None and n >= limit]
        if not over:
            return None
        trust = 0.0
        if comment.email_index is not None:
            # Trust earned before this burst: the burst's own approved comments don't count.
            record = history.author_record(comment.site_id, comment.email_index)
            earlier = max(0, record.approved - (counts.email or 0))
            trust = trust_level(replace(record, approved=earlier))
        held = []
        for total, limit, what in over:
            if what == "on the whole site" and trust >= 0.5:
                continue  # a surge is not the regulars' doing
            allowed = int(limit * (1 + trust))
            if total > allowed:
                held.append((total, allowed, what))
        if not held:
            return None
        reasons = [
            f"{'at least ' if total > cap else ''}{_plural(min(total, cap), 'comment')} {what} "
            f"in the last {_span(minutes)} (the site holds more than {allowed:,})"
            for total, allowed, what in held
        ]
        worst = max(total / allowed for total, allowed, _ in held)
        return Verdict.hold("; ".join(reasons), score=min(1.0, worst / 2))


@dataclass(frozen=True)
class NearDuplicates:
    """The same or nearly the same text posted by other authors: coordinated spam."""

    name: ClassVar[str] = "duplicates"
    limit: int = 50

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        history = _history(comment, ctx)
        if history is None or ctx.author_standing == "trust":
            return None
        assert comment.site_id is not None and comment.submitted_at is not None
        days = policy_value(ctx, "duplicates_window_days")
        hold_authors = policy_value(ctx, "duplicates_hold_authors")
        spam_authors = policy_value(ctx, "duplicates_spam_authors")
        signature = signature_of(comment)
        if days <= 0 or signature.words < policy_value(ctx, "duplicates_min_words"):
            return None
        matches = history.near_duplicates(
            site_id=comment.site_id,
            fingerprint=signature.fingerprint,
            body_hash=signature.body_hash,
            exclude_email_index=comment.email_index,
            since=comment.submitted_at - dt.timedelta(days=days),
            until=comment.submitted_at,
            limit=self.limit,
        )
        if not matches:
            return None
        authors = len({m.email_index or f"comment {m.comment_id}" for m in matches})
        marked_spam = sum(1 for m in matches if m.status == "spam")
        short = signature.words < policy_value(ctx, "duplicates_spam_min_words")
        spam_worthy = (spam_authors > 0 and authors >= spam_authors) or marked_spam > 0
        if spam_worthy and not short:
            action = Action.SPAM
        elif spam_worthy or (hold_authors > 0 and authors >= hold_authors):
            action = Action.HOLD
        else:
            return None
        reason = _duplicate_reason(matches, authors, marked_spam, days, self.limit)
        if spam_worthy and short:
            words = policy_value(ctx, "duplicates_spam_min_words")
            reason += f"; held, not spam: fewer than {words} words"
        score = 1.0 if action is Action.SPAM else min(1.0, authors / max(spam_authors, 1))
        return Verdict(action, reason, score)


def _duplicate_reason(
    matches: list[Match], authors: int, marked_spam: int, days: int, limit: int
) -> str:
    exact = all(m.distance == 0 for m in matches)
    worst = max(m.distance for m in matches)
    how = "the same text" if exact else f"nearly the same text (≤{worst} of 64 fingerprint bits)"
    count = f"{'at least ' if len(matches) >= limit else ''}{_plural(len(matches), 'comment')}"
    by = "by other authors" if authors == len(matches) else f"by {authors} other authors"
    if authors == 1:
        by = "by another author"
    window = "day" if days == 1 else f"{days} days"
    spam = ""
    if marked_spam:
        spam = (
            " (one already marked spam)"
            if marked_spam == 1
            else f" ({marked_spam} already marked spam)"
        )
    return f"{how} as {count} {by} in the last {window}{spam}"


@dataclass(frozen=True)
class AuthorTrust:
    """The author's record on the site: an approve signal for a good one, hold for a bad one."""

    name: ClassVar[str] = "author_trust"

    def run(self, comment: CommentFacts, ctx: CheckContext) -> Verdict | None:
        history = _history(comment, ctx)
        if history is None or comment.email_index is None:
            return None
        assert comment.site_id is not None
        record = history.author_record(comment.site_id, comment.email_index)
        min_approved = policy_value(ctx, "trust_min_approved")
        hold_after_bad = policy_value(ctx, "trust_hold_after_bad")
        if hold_after_bad > 0 and record.bad >= hold_after_bad and record.bad > record.approved:
            return Verdict.hold(
                f"{_plural(record.bad, 'earlier comment')} rejected or marked spam, "
                f"{record.approved:,} approved",
                score=min(1.0, record.bad / (2 * hold_after_bad)),
            )
        if min_approved > 0 and record.approved >= min_approved and record.bad == 0:
            return Verdict(
                Action.APPROVE,
                f"{_plural(record.approved, 'earlier comment')} approved, "
                "none rejected or marked spam",
                trust_level(record),
            )
        return None
