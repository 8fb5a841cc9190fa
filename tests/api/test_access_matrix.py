"""Who may call every moderation and admin endpoint (M5, M6): a table of the minimum role of
each route, checked for anonymous callers, a revoked token, an admin of another site and a
viewer, moderator and admin of the site, through the JSON API and the web UI.

Deny by default: every route under `/api/v1/sites/<site>/moderation`, `/webhooks` and
`/privacy`, and every route under `/moderation`, must have a row in RULES, or
`test_every_moderation_route_has_a_rule` fails; a new endpoint cannot ship unreviewed.

Expected answers (the documented rule, docs/security.md):
- no or revoked credentials: 401 from the API; a 303 to the login page from the UI;
- a role on another site only: 404, the same as for a site that does not exist;
- a role on the site below the route's minimum: 403;
- at least the minimum role: anything but those refusals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core import accounts, authors
from core.config import Settings
from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import Role, Site
from tests.support.moderation import held

SITE_ROUTE_PREFIXES = (
    "/api/v1/sites/<site>/moderation",
    "/api/v1/sites/<site>/webhooks",
    "/api/v1/sites/<site>/privacy",
)
UI_PREFIX = "/moderation"


class Access(Enum):
    PUBLIC = "public"  # the login form and the UI's own 404 page
    SIGNED_IN = "signed in"  # any valid credentials, whatever the site


Needed = Role | Access
V, M, A = Role.VIEWER, Role.MODERATOR, Role.ADMIN

# (endpoint, method) -> minimum role. Keep in step with docs/security.md.
RULES: dict[tuple[str, str], Needed] = {
    ("moderation_api.list_queue", "GET"): V,
    ("moderation_api.comment_detail", "GET"): V,
    ("moderation_api.author_view", "GET"): V,
    ("moderation_api.audit_log", "GET"): V,
    ("moderation_api.site_stats", "GET"): V,
    ("moderation_api.get_settings", "GET"): V,
    ("moderation_api.decide", "POST"): M,
    ("moderation_api.bulk", "POST"): M,
    ("moderation_api.reply", "POST"): M,
    ("moderation_api.mark_author", "POST"): M,
    ("moderation_api.reveal_email", "POST"): A,
    ("moderation_api.change_settings", "PUT"): A,
    ("moderation_api.change_settings", "PATCH"): A,
    ("moderation_api.thread_premoderation", "PUT"): A,
    ("webhooks.create", "POST"): A,
    ("webhooks.list_all", "GET"): A,
    ("webhooks.get_one", "GET"): A,
    ("webhooks.change", "PATCH"): A,
    ("webhooks.remove", "DELETE"): A,
    ("webhooks.rotate_secret", "POST"): A,
    ("webhooks.test_ping", "POST"): A,
    ("webhooks.delivery_log", "GET"): A,
    ("webhooks.delivery_detail", "GET"): A,
    ("webhooks.replay", "POST"): A,
    ("privacy_api.export", "POST"): A,
    ("privacy_api.erase", "POST"): A,
    ("moderation_ui.login", "GET"): Access.PUBLIC,
    ("moderation_ui.login_post", "POST"): Access.PUBLIC,
    ("moderation_ui.not_found", "GET"): Access.PUBLIC,
    ("moderation_ui.not_found", "POST"): Access.PUBLIC,
    ("moderation_ui.logout_page", "GET"): Access.SIGNED_IN,
    ("moderation_ui.logout", "POST"): Access.SIGNED_IN,
    ("moderation_ui.index", "GET"): Access.SIGNED_IN,
    ("moderation_ui.queue_page", "GET"): V,
    ("moderation_ui.comment_page", "GET"): V,
    ("moderation_ui.decide", "POST"): M,
    ("moderation_ui.bulk", "POST"): M,
    ("moderation_ui_admin.reply", "POST"): M,
    ("moderation_ui_admin.mark_author", "POST"): M,
    ("moderation_ui_admin.reveal_email", "POST"): A,
    ("moderation_ui_admin.author_page", "GET"): V,
    ("moderation_ui_admin.find_author", "POST"): V,
    ("moderation_ui_admin.audit_page", "GET"): V,
    ("moderation_ui_admin.stats_page", "GET"): V,
    ("moderation_ui_admin.settings_page", "GET"): V,
    ("moderation_ui_admin.save_settings", "POST"): A,
    ("moderation_ui_admin.save_thread_premoderation", "POST"): A,
}

# Request bodies that get past validation where the route validates (JSON for the API,
# form fields for the UI); refusals are decided before any body is read.
JSON_BODIES: dict[str, Any] = {
    "moderation_api.decide": {"action": "reject"},
    "moderation_api.bulk": {"action": "reject", "ids": [1]},
    "moderation_api.reply": {"comment": "Thanks, we have corrected the article."},
    "moderation_api.mark_author": {"action": "trust"},
    "moderation_api.change_settings": {},
    "moderation_api.thread_premoderation": {"premoderation": True},
    "webhooks.create": {"url": "https://hooks.example/x", "events": ["comment.approved"]},
    "webhooks.change": {"description": "x"},
    "privacy_api.export": {"email": "someone@example.org"},
    "privacy_api.erase": {"email": "someone@example.org"},
}
FORM_BODIES: dict[str, dict[str, str]] = {
    "moderation_ui.decide": {"action": "reject"},
    "moderation_ui.bulk": {"action": "reject", "ids": "1"},
    "moderation_ui_admin.reply": {"comment": "Thanks, we have corrected the article."},
    "moderation_ui_admin.mark_author": {"action": "trust"},
    "moderation_ui_admin.find_author": {"email": "someone@example.org"},
    "moderation_ui_admin.save_thread_premoderation": {"thread": "council-vote"},
}


def in_scope(rule_path: str) -> bool:
    return rule_path.startswith(SITE_ROUTE_PREFIXES) or (
        rule_path == UI_PREFIX or rule_path.startswith(UI_PREFIX + "/")
    )


def scoped_routes(app: Flask) -> dict[tuple[str, str], str]:
    """(endpoint, method) -> rule of every route the matrix must cover."""
    found: dict[tuple[str, str], str] = {}
    for rule in app.url_map.iter_rules():
        if not in_scope(rule.rule):
            continue
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found[(rule.endpoint, method)] = rule.rule
    return found


def test_every_moderation_route_has_a_rule(app: Flask) -> None:
    routes = scoped_routes(app)
    missing = sorted(f"{m} {routes[(e, m)]} ({e})" for e, m in routes if (e, m) not in RULES)
    assert not missing, "routes without an access rule (add them to RULES):\n" + "\n".join(missing)
    stale = sorted(f"{m} {e}" for e, m in RULES if (e, m) not in routes)
    assert not stale, f"rules for routes that no longer exist: {stale}"


@dataclass
class Caller:
    label: str
    headers: dict[str, str]
    role: Role | None  # on site A
    valid: bool  # the credentials are accepted at all


@dataclass
class World:
    site_a: Site
    comment_id: int
    author_key: str
    callers: list[Caller]


@pytest.fixture
def world(session: Session, site: Site, vault: PrivacyVault, settings: Settings) -> World:
    other = ensure_site(session, "herald", name="The Herald", allowed_origins=[])
    session.commit()
    comment = held(session, site, vault, settings)

    def bearer(target: Site, role: Role) -> dict[str, str]:
        issued = accounts.create_token(session, target, role, label="matrix")
        session.commit()
        return {"Authorization": f"Bearer {issued.secret}"}

    revoked = accounts.create_token(session, site, Role.ADMIN, label="revoked")
    accounts.revoke_token(session, revoked.row_id)
    session.commit()
    callers = [
        Caller("anonymous", {}, None, valid=False),
        Caller("revoked admin token", {"Authorization": f"Bearer {revoked.secret}"}, None, False),
        Caller("garbage token", {"Authorization": "Bearer rgt_not-a-token"}, None, False),
        Caller("admin of site B", bearer(other, Role.ADMIN), None, valid=True),
        Caller("viewer of A", bearer(site, Role.VIEWER), Role.VIEWER, valid=True),
        Caller("moderator of A", bearer(site, Role.MODERATOR), Role.MODERATOR, valid=True),
        Caller("admin of A", bearer(site, Role.ADMIN), Role.ADMIN, valid=True),
    ]
    return World(site, comment.id, authors.author_key(comment.email_index), callers)


def concrete_path(rule: str, world: World) -> str:
    return (
        rule.replace("<site>", world.site_a.key)
        .replace("<int:comment_id>", str(world.comment_id))
        .replace("<author>", world.author_key)
        .replace("<path:thread>", "council-vote")
        .replace("<endpoint_id>", "no-such-endpoint")
        .replace("<delivery_id>", "no-such-delivery")
        .replace("<path:_rest>", "no/such/page")
    )


def call(client: FlaskClient, method: str, path: str, endpoint: str, caller: Caller) -> Any:
    if path.startswith("/api/"):
        body = JSON_BODIES.get(endpoint)
        kwargs: dict[str, Any] = {}
        if method in {"POST", "PUT", "PATCH"}:
            kwargs = {"data": json.dumps(body or {}), "content_type": "application/json"}
        return client.open(path, method=method, headers=caller.headers, **kwargs)
    data = FORM_BODIES.get(endpoint) if method == "POST" else None
    return client.open(path, method=method, headers=caller.headers, data=data)


def refusal(response: TestResponse, api: bool) -> str | None:
    """Which refusal the answer is, if it is one."""
    if api:
        code = (response.get_json(silent=True) or {}).get("error")
        if response.status_code == 401:
            return "unauthenticated"
        if response.status_code == 403 and code == "permission_denied":
            return "forbidden"
        if response.status_code == 404 and code == "site_not_found":
            return "not found"
        return None
    location = response.headers.get("Location", "")
    if response.status_code == 303 and "/moderation/login" in location and "bye=" not in location:
        return "unauthenticated"
    if response.status_code == 403:
        return "forbidden"
    if response.status_code == 404:
        return "not found"
    return None


def expected(needed: Needed, caller: Caller) -> str | None:
    if needed is Access.PUBLIC:
        return None
    if not caller.valid:
        return "unauthenticated"
    if needed is Access.SIGNED_IN:
        return None
    assert isinstance(needed, Role)
    if caller.role is None:
        return "not found"
    return "forbidden" if caller.role.rank < needed.rank else None


@pytest.mark.parametrize(("endpoint", "method"), sorted(RULES), ids=lambda v: str(v))
def test_access_rule(
    app: Flask, client: FlaskClient, world: World, endpoint: str, method: str
) -> None:
    rule = scoped_routes(app).get((endpoint, method))
    assert rule is not None, f"no route for {method} {endpoint}"
    needed = RULES[(endpoint, method)]
    path = concrete_path(rule, world)
    api = path.startswith("/api/")
    for caller in world.callers:
        client.delete_cookie("rg_session")
        response = call(client, method, path, endpoint, caller)
        got = refusal(response, api)
        want = expected(needed, caller)
        if endpoint == "moderation_ui.not_found":
            want = "not found"  # the UI's 404 page, for everyone
        elif needed is Access.PUBLIC:
            # Open to all: never a login redirect (the login form's own CSRF rule may 403).
            assert got != "unauthenticated", (caller.label, response.status_code)
            continue
        assert got == want, (
            f"{method} {path} as {caller.label}: {response.status_code} "
            f"{response.get_data(as_text=True)[:200]!r} (wanted {want or 'allowed'})"
        )
