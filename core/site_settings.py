"""A site's moderation settings as admins change them: word lists, link and domain rules,
pre-moderation, how soon after loading a form a comment may be posted, the classifiers'
thresholds, flood limits and the checks running in shadow mode. Every change is
validated and audited with its before and after values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core import audit
from core.access import Principal
from core.errors import InvalidSetting
from core.sites import site_policy
from models import Site

MAX_WORDS = 5000
MAX_WORD_LENGTH = 200


def _word_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):  # a textarea: one entry per line
        value = value.splitlines()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSetting("bad list", fields={name: ["a list of words, one per line"]})
    words = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    if len(words) > MAX_WORDS or any(len(w) > MAX_WORD_LENGTH for w in words):
        raise InvalidSetting(
            "list too long",
            fields={name: [f"at most {MAX_WORDS} entries of {MAX_WORD_LENGTH} characters"]},
        )
    return words


def _max_links(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or not 0 <= number <= 100:
        raise InvalidSetting(
            "bad number", fields={"max_links": ["a whole number from 0 (off) to 100"]}
        )
    return number


def _form_min_seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not 0 <= number <= 120:
        raise InvalidSetting(
            "bad number",
            fields={"form_min_seconds": ["seconds from 0 (off) to 120"]},
        )
    return number


def _score(name: str, *, allow_off: bool) -> Callable[[Any], float | None]:
    """A classifier threshold between 0 and 1; with `allow_off`, empty or 0 turns it off."""

    def parse(value: Any) -> float | None:
        if allow_off and value in (None, "", 0, "0", False, "off"):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1.0
        if isinstance(value, bool) or not 0 < number <= 1:
            hint = "a score above 0 and at most 1" + (" (empty: off)" if allow_off else "")
            raise InvalidSetting("bad threshold", fields={name: [hint]})
        return number

    return parse


def _count(name: str, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if isinstance(value, bool) or not 0 <= number <= maximum:
            raise InvalidSetting("bad number", fields={name: [f"a whole number, 0 to {maximum}"]})
        return number

    return parse


def _domains(name: str) -> Callable[[Any], list[str]]:
    def parse(value: Any) -> list[str]:
        if isinstance(value, str):
            value = value.split()
        return [entry.lower() for entry in _word_list(name, value)]

    return parse


def _shadow_checks(value: Any) -> list[str]:
    from core.checks.pipeline import check_names

    names = _word_list("shadow_checks", value)
    known = check_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidSetting(
            "unknown checks",
            fields={
                "shadow_checks": [f"not a check: {', '.join(unknown)}; one of {', '.join(known)}"]
            },
        )
    return names


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("on", "true", "1", 1):
        return True
    if value in ("off", "false", "0", 0, "", None):
        return False
    raise InvalidSetting("bad flag", fields={name: ["true or false"]})


def _disallowed(value: Any) -> list[str]:
    return _word_list("disallowed_words", value)


def _moderation(value: Any) -> list[str]:
    return _word_list("moderation_words", value)


def _premoderation(value: Any) -> bool:
    return _flag("premoderation", value)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "disallowed_words": _disallowed,
    "moderation_words": _moderation,
    "max_links": _max_links,
    "premoderation": _premoderation,
    "form_min_seconds": _form_min_seconds,
    "blocked_domains": _domains("blocked_domains"),
    "allowed_domains": _domains("allowed_domains"),
    "spam_hold_at": _score("spam_hold_at", allow_off=True),
    "spam_at": _score("spam_at", allow_off=True),
    "toxicity_hold_at": _score("toxicity_hold_at", allow_off=True),
    "toxicity_reject_at": _score("toxicity_reject_at", allow_off=True),
    "shadow_checks": _shadow_checks,
    "flood_window_minutes": _count("flood_window_minutes", 1440),
    "flood_max_per_ip": _count("flood_max_per_ip", 100000),
    "flood_max_per_email": _count("flood_max_per_email", 100000),
    "flood_max_per_site": _count("flood_max_per_site", 10000000),
    "duplicates_window_days": _count("duplicates_window_days", 365),
}


def _check_threshold_order(values: dict[str, Any]) -> None:
    """A hold threshold above its stronger action's threshold would silently never hold."""
    for hold, stronger in (("spam_hold_at", "spam_at"), ("toxicity_hold_at", "toxicity_reject_at")):
        low, high = values.get(hold), values.get(stronger)
        if low is not None and high is not None and low > high:
            raise InvalidSetting(
                "thresholds out of order", fields={hold: [f"must not be above {stronger}"]}
            )


def current(site: Site) -> dict[str, Any]:
    """The settings in effect (the site's policy over the defaults)."""
    from core.checks.history import POLICY_DEFAULTS as HISTORY_DEFAULTS

    policy = {**HISTORY_DEFAULTS, **site_policy(site)}
    return {key: policy.get(key, False if key == "premoderation" else None) for key in PARSERS}


def parse(changes: dict[str, Any]) -> dict[str, Any]:
    """The parsed values of `changes`; InvalidSetting naming every invalid or unknown key
    at once, so a form or API client can correct them all in one go."""
    errors: dict[str, list[str]] = {key: ["not a setting"] for key in changes if key not in PARSERS}
    parsed: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in PARSERS:
            continue
        try:
            parsed[key] = PARSERS[key](value)
        except InvalidSetting as exc:
            for name, messages in (exc.fields or {key: [exc.message]}).items():
                errors.setdefault(name, []).extend(messages)
    if errors:
        raise InvalidSetting("invalid settings", fields=errors)
    return parsed


def update(
    session: Session, site: Site, changes: dict[str, Any], principal: Principal
) -> dict[str, Any]:
    """Validate and apply `changes` (see `parse`); the caller commits."""
    parsed = parse(changes)
    before = current(site)
    _check_threshold_order({**before, **parsed})
    site.policy = {**(site.policy or {}), **parsed}
    after = current(site)
    changed = {k: {"before": before[k], "after": after[k]} for k in parsed if before[k] != after[k]}
    if changed:
        audit.record(session, principal, "settings.update", site_id=site.id, detail=changed)
    return after
