"""The moderators' web UI, part two (`/moderation/<site>/...`): the actions on a comment
besides deciding it (a reply as the site, banning or trusting its author, revealing the
email), an author's page, the audit log, the stats page with its charts, and the site's
settings (word lists, links, form timing, classifier thresholds, flood limits, shadow mode,
pre-moderation of the site or of one thread).

Contract: as part one (api/views/moderation_ui.py): server-rendered, thin views over the
same core functions as the JSON API, HTML errors. Everyone with a role on the site may
read these pages; moderators reply and mark authors; only admins reveal emails and change
settings. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.datastructures import MultiDict

from api import charts
from api.context import vault
from api.moderation_pages import (
    Page,
    error_page,
    install,
    open_action,
    open_page,
    render_page,
    see_other,
)
from api.moderation_schemas import AuthorMarkRequestSchema
from api.payloads import db_int
from api.views.moderation_ui import comment_response, form_fields
from core import audit, authors, queue, review, site_settings, stats
from core.checks.pipeline import check_names
from core.errors import InvalidSetting
from core.sites import SiteCache
from models import AuditEntry, Role
from models.base import utcnow

bp = Blueprint("moderation_ui_admin", __name__, url_prefix="/moderation")
install(bp)

STATS_DAYS = (7, 30, 90)
# The order the stacked bars are drawn in, bottom up.
CHART_STATUSES = ("approved", "held", "pending", "rejected", "spam", "deleted")


# -- actions on a comment besides deciding it ----------------------------------------


@bp.post("/<site>/comments/<int:comment_id>/reply")
def reply(site: str, comment_id: int) -> Response:
    """Publish a reply under the site's name (approved at once)."""
    page = open_action(site)
    text = request.form.get("comment", "")
    try:
        made = review.reply_as_site(
            page.session, page.site, comment_id, text, page.principal, vault=vault()
        )
    except InvalidSetting as exc:
        page.session.rollback()
        problem = "; ".join(m for ms in exc.fields.values() for m in ms) or exc.message
        return comment_response(page, comment_id, status=422, reply_error=problem, reply_text=text)
    page.session.commit()
    target = url_for(
        "moderation_ui.comment_page",
        site=site,
        comment_id=comment_id,
        done="reply",
        done_id=made.id,
    )
    return see_other(target)


@bp.post("/<site>/comments/<int:comment_id>/author")
def mark_author(site: str, comment_id: int) -> Response:
    """Ban (by email, or by IP prefix) or trust the comment's author, or clear the marks;
    audited the same way as through the API."""
    page = open_action(site)
    data = AuthorMarkRequestSchema().load(form_fields("action", "by", "reason"))
    try:
        review.mark_author(
            page.session,
            page.site.id,
            comment_id,
            data["action"],
            page.principal,
            by=data["by"],
            reason=data["reason"],
        )
    except InvalidSetting as exc:
        page.session.rollback()
        problem = "; ".join(m for ms in exc.fields.values() for m in ms) or exc.message
        return comment_response(page, comment_id, status=422, author_error=problem)
    page.session.commit()
    done = f"author-{data['action']}"
    return see_other(
        url_for("moderation_ui.comment_page", site=site, comment_id=comment_id, done=done)
    )


@bp.post("/<site>/comments/<int:comment_id>/reveal-email")
def reveal_email(site: str, comment_id: int) -> Response:
    """Show the full email once, to an admin; the reveal is committed to the audit log
    before the page is rendered, and the page is never cached."""
    page = open_action(site, Role.ADMIN)
    email = review.reveal_email(page.session, page.site.id, comment_id, page.principal, vault())
    page.session.commit()
    return comment_response(page, comment_id, revealed_email=email)


# -- authors, audit log, stats, settings ------------------------------------------------


@bp.get("/<site>/authors/<author>")
def author_page(site: str, author: str) -> Response:
    """An author (their email's blind index): history per status, marks, latest comments."""
    page = open_page(site)
    index = authors.parse_author_key(author)
    recent = queue.author_comments(page.session, page.site.id, index)
    ip_prefix = recent[0].ip_truncated if recent else None
    return render_page(
        page,
        "moderation/author.html",
        author_key=author,
        history=authors.history(page.session, page.site.id, index),
        marks=authors.marks_for(page.session, page.site.id, index, ip_prefix),
        comments=recent,
    )


@bp.post("/<site>/authors")
def find_author(site: str) -> Response:
    """Look an author up by their exact email. A POST, so that the address never appears in
    a URL (and so in no access log and no browser history); it answers with the author's
    page, whose key is derived from the email's blind index."""
    open_action(site, Role.VIEWER)
    email = request.form.get("email", "").strip()
    if "@" not in email or not 3 <= len(email) <= 254:
        return error_page(422, "Enter a whole email address.", fields={"email": ["required"]})
    key = authors.author_key(vault().email_index(email))
    return see_other(url_for("moderation_ui_admin.author_page", site=site, author=key))


def describe(entry: AuditEntry) -> str:
    """An audit row's detail as short text (`note: …`, `max_links: 2 → 3`)."""
    parts = []
    for key, value in (entry.detail or {}).items():
        if isinstance(value, dict) and set(value) == {"before", "after"}:
            parts.append(f"{key}: {_short(value['before'])} → {_short(value['after'])}")
        else:
            parts.append(f"{key}: {_short(value)}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:119] + "…"


@bp.get("/<site>/audit")
def audit_page(site: str) -> Response:
    """The site's audit log, newest first; `before=<id>` pages, `comment=<id>` filters."""
    page = open_page(site)
    comment_id = request.args.get("comment", type=db_int)
    log = audit.entries(
        page.session,
        page.site.id,
        before=request.args.get("before", type=db_int),
        comment_id=comment_id,
        limit=50,
    )
    older = None
    if log.next_before is not None:
        older = url_for(
            "moderation_ui_admin.audit_page", site=site, before=log.next_before, comment=comment_id
        )
    return render_page(
        page,
        "moderation/audit.html",
        entries=log.entries,
        comment_id=comment_id,
        older_url=older,
        describe=describe,
    )


def _hours(oldest: dt.datetime | None, now: dt.datetime) -> float:
    return round((now - oldest).total_seconds() / 3600, 1) if oldest else 0.0


@bp.get("/<site>/stats")
def stats_page(site: str) -> Response:
    """Comments per day by status, queue size and age, top reasons and the spam rate."""
    page = open_page(site)
    days = request.args.get("days", 30, type=db_int)
    days = days if days in STATS_DAYS else 30
    numbers = stats.site_stats(page.session, page.site.id, days=days)
    now = utcnow()
    labels = [d.strftime("%m-%d") for d in numbers.days]
    series = [
        charts.Series(s, charts.STATUS_COLOURS[s], numbers.per_day.get(s, [0] * len(labels)))
        for s in CHART_STATUSES
        if any(numbers.per_day.get(s, []))
    ]
    queue_bars = [
        charts.Bar(
            q.status,
            q.size,
            f"{q.size:,} · oldest {_hours(q.oldest, now)} h" if q.oldest else f"{q.size:,}",
        )
        for q in numbers.queues
    ]
    reason_bars = [charts.Bar(name, count, f"{count:,}") for name, count in numbers.top_reasons]
    rate = numbers.spam_rate
    rate_text = f"{rate:.1%}" if rate is not None else "no decisions yet"
    return render_page(
        page,
        "moderation/stats.html",
        numbers=numbers,
        days=days,
        day_choices=STATS_DAYS,
        statuses=CHART_STATUSES,
        ages={q.status: _hours(q.oldest, now) for q in numbers.queues},
        rate_text=rate_text,
        per_day_chart=charts.stacked_bars(
            "chart-per-day",
            f"Comments per day by status, last {days} days",
            "Stacked bars: each day's comments, split by their current status.",
            labels,
            series,
        ),
        queue_chart=charts.horizontal_bars(
            "chart-queues",
            "Queue size and age",
            "Comments waiting per queue, with the age of the oldest in hours.",
            queue_bars,
        ),
        reasons_chart=charts.horizontal_bars(
            "chart-reasons",
            "Top reasons",
            "How often each check objected to a comment in the period.",
            reason_bars,
        ),
        rate_chart=charts.horizontal_bars(
            "chart-spam-rate",
            "Spam rate",
            "Share of the decided comments that are spam.",
            [charts.Bar("spam", rate or 0.0, rate_text)],
            maximum=1.0,
            colour=charts.STATUS_COLOURS["spam"],
        ),
    )


# The settings page's text fields, each shown and saved when present in the form (a field
# left out of a POST keeps its value): lists as one entry per line, numbers as typed.
LIST_SETTINGS = ("disallowed_words", "moderation_words", "blocked_domains", "allowed_domains")
NUMBER_SETTINGS = (
    "max_links",
    "form_min_seconds",
    "spam_hold_at",
    "spam_at",
    "toxicity_hold_at",
    "toxicity_reject_at",
    "flood_window_minutes",
    "flood_max_per_ip",
    "flood_max_per_email",
    "flood_max_per_site",
    "duplicates_window_days",
)


def _shown(values: dict[str, Any]) -> dict[str, Any]:
    """Settings as the form shows them (lists one per line, empty for off)."""
    shown: dict[str, Any] = {key: "\n".join(values.get(key) or []) for key in LIST_SETTINGS}
    for key in NUMBER_SETTINGS:
        value = values.get(key)
        shown[key] = "" if value is None else value
    shown["premoderation"] = bool(values.get("premoderation"))
    shown["shadow_checks"] = list(values.get("shadow_checks") or [])
    return shown


def _settings_form(page: Page, *, status: int = 200, **extra: Any) -> Response:
    shown = _shown(site_settings.current(page.site))
    shown.update(extra.pop("submitted", {}))
    return render_page(
        page,
        "moderation/settings.html",
        http_status=status,
        values=shown,
        check_choices=[(name, queue.check_label(name)) for name in check_names()],
        saved=request.args.get("saved"),
        **extra,
    )


@bp.get("/<site>/settings")
def settings_page(site: str) -> Response:
    """The site's settings; the form is read-only for anyone but admins."""
    return _settings_form(open_page(site))


def _forget_cached(site: str) -> None:
    """This process reads the new settings at once; others within the cache's lifetime."""
    cache: SiteCache = current_app.extensions["replyguard.sites"]
    cache.forget(site)


def settings_changes(form: MultiDict[str, str]) -> dict[str, Any]:
    """The settings a POST of the settings form changes: the text fields it carries, and
    the checkboxes of the fieldsets it marks as sent. An unchecked box is absent from a
    form, so a fieldset with boxes sends a hidden `fieldset` marker ("rules": the
    pre-moderation box, "shadow": the shadow-mode boxes): with it, an absent box is off;
    without it, the box was not sent and its setting is left alone."""
    changes: dict[str, Any] = {key: form[key] for key in LIST_SETTINGS if key in form}
    changes.update({key: form[key].strip() for key in NUMBER_SETTINGS if key in form})
    sent = set(form.getlist("fieldset"))
    if "premoderation" in form or "rules" in sent:
        changes["premoderation"] = "on" if form.get("premoderation") else "off"
    if "shadow" in sent:
        changes["shadow_checks"] = form.getlist("shadow_checks")
    return changes


@bp.post("/<site>/settings")
def save_settings(site: str) -> Response:
    """Save the moderation rules, links, classifier thresholds, flood limits and shadow
    checks (admins). Only the fields the form sent change; 422 marks every invalid one."""
    page = open_action(site, Role.ADMIN)
    changes = settings_changes(request.form)
    try:
        parsed = site_settings.parse(changes)
        # The form sends every field: store only what differs from the settings in effect,
        # so an untouched default stays a default (and follows it if it is retuned).
        before = site_settings.current(page.site)
        changed = {key: changes[key] for key, value in parsed.items() if value != before[key]}
        site_settings.update(page.session, page.site, changed, page.principal)
    except InvalidSetting as exc:
        page.session.rollback()
        submitted = {**changes}
        if "premoderation" in changes:
            submitted["premoderation"] = changes["premoderation"] == "on"
        return _settings_form(page, status=422, errors=exc.fields, submitted=submitted)
    page.session.commit()
    _forget_cached(site)
    return see_other(url_for("moderation_ui_admin.settings_page", site=site, saved="site"))


@bp.post("/<site>/settings/thread")
def save_thread_premoderation(site: str) -> Response:
    """Turn pre-moderation of one thread on or off (admins)."""
    page = open_action(site, Role.ADMIN)
    thread = request.form.get("thread", "").strip()
    on = request.form.get("premoderation") == "on"
    try:
        review.set_thread_premoderation(page.session, page.site.id, thread, on, page.principal)
    except InvalidSetting as exc:
        page.session.rollback()
        return _settings_form(page, status=422, thread_errors=exc.fields, thread=thread)
    page.session.commit()
    return see_other(url_for("moderation_ui_admin.settings_page", site=site, saved="thread"))
