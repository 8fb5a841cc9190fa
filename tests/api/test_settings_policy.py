"""The checks engine's settings (link domains, classifier thresholds, flood limits, shadow
mode) through the JSON API and the settings page, on PostgreSQL and SQLite: round trips,
one 422 naming every invalid field, the shadow list checked against the pipeline's names,
audit entries, and a form that leaves alone whatever it did not send."""

from __future__ import annotations

import re
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from core import passwords
from core.checks.pipeline import check_names
from models import AuditEntry, Role, Site
from tests.support.moderation import PASSWORD, moderator, token

BASE = "/api/v1/sites/gazette/moderation"
PAGE = "/moderation/gazette/settings"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

NEW_SETTINGS: dict[str, Any] = {
    "blocked_domains": ["Casino.example", "loans.example"],
    "allowed_domains": ["gazette.example"],
    "spam_hold_at": 0.6,
    "spam_at": 0.95,
    "toxicity_hold_at": 0.55,
    "toxicity_reject_at": 0.98,
    "shadow_checks": ["toxicity", "duplicates"],
    "flood_window_minutes": 30,
    "flood_max_per_ip": 20,
    "flood_max_per_email": 8,
    "flood_max_per_site": 5000,
    "duplicates_window_days": 14,
}


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests are about settings, not the hash's cost."""
    monkeypatch.setattr(
        passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def admin(session: Session, site: Site) -> dict[str, str]:
    return token(session, site, Role.ADMIN)


def audited(session: Session) -> list[dict[str, Any]]:
    """The details of the settings.update audit entries, oldest first."""
    details = session.scalars(
        select(AuditEntry.detail)
        .where(AuditEntry.action == "settings.update")
        .order_by(AuditEntry.id)
    )
    found = [d or {} for d in details]
    session.commit()  # end the read: the app shares this session and begins its own
    return found


def stored_policy(session: Session, site: Site) -> dict[str, Any]:
    """The site's own policy as committed (the read's transaction is ended: the app shares
    this session between requests)."""
    session.expire_all()
    row = session.get(Site, site.id)
    assert row is not None
    policy = dict(row.policy or {})
    session.commit()
    return policy


# -- the JSON API ----------------------------------------------------------------------------


def test_api_returns_the_defaults_of_every_new_key(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    current = client.get(BASE + "/settings", headers=admin).get_json()
    assert current["blocked_domains"] == [] and current["allowed_domains"] == []
    assert (current["spam_hold_at"], current["spam_at"]) == (0.9, 0.995)
    assert current["toxicity_hold_at"] == 0.7 and current["toxicity_reject_at"] is None
    assert current["shadow_checks"] == []
    assert current["flood_window_minutes"] == 10 and current["flood_max_per_ip"] == 10
    assert current["flood_max_per_email"] == 6 and current["flood_max_per_site"] == 1000
    assert current["duplicates_window_days"] == 7


def test_api_round_trip_of_the_new_keys_is_audited(
    client: FlaskClient, session: Session, site: Site, admin: dict[str, str]
) -> None:
    response = client.put(BASE + "/settings", json=NEW_SETTINGS, headers=admin)
    assert response.status_code == 200, response.get_json()
    expected = {**NEW_SETTINGS, "blocked_domains": ["casino.example", "loans.example"]}
    after = response.get_json()
    assert {key: after[key] for key in NEW_SETTINGS} == expected
    again = client.get(BASE + "/settings", headers=admin).get_json()
    assert {key: again[key] for key in NEW_SETTINGS} == expected
    [detail] = audited(session)
    assert detail["spam_hold_at"] == {"before": 0.9, "after": 0.6}
    assert detail["toxicity_reject_at"] == {"before": None, "after": 0.98}
    assert detail["shadow_checks"] == {"before": [], "after": ["toxicity", "duplicates"]}
    assert detail["flood_max_per_site"] == {"before": 1000, "after": 5000}

    # PATCH changes only what it sends; an empty threshold turns it off.
    patched = client.patch(BASE + "/settings", json={"spam_at": ""}, headers=admin)
    assert patched.status_code == 200
    assert patched.get_json()["spam_at"] is None
    assert patched.get_json()["spam_hold_at"] == 0.6
    assert audited(session)[-1] == {"spam_at": {"before": 0.95, "after": None}}
    # Sending the same values again changes nothing and audits nothing.
    same = client.put(BASE + "/settings", json=NEW_SETTINGS | {"spam_at": None}, headers=admin)
    assert same.status_code == 200 and len(audited(session)) == 2


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("spam_hold_at", 1.5),
        ("spam_at", -0.1),
        ("toxicity_hold_at", "very"),
        ("toxicity_reject_at", True),
        ("flood_window_minutes", 1441),
        ("flood_max_per_ip", -1),
        ("flood_max_per_email", "six"),
        ("flood_max_per_site", 10_000_001),
        ("duplicates_window_days", 366),
        ("blocked_domains", 42),
        ("allowed_domains", [1, 2]),
        ("shadow_checks", "not-a-list-of-checks"),
    ],
)
def test_api_refuses_a_bad_value_with_its_field(
    client: FlaskClient,
    session: Session,
    site: Site,
    admin: dict[str, str],
    key: str,
    value: Any,
) -> None:
    response = client.put(BASE + "/settings", json={key: value}, headers=admin)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert list(body["fields"]) == [key] and body["fields"][key]
    assert key not in stored_policy(session, site) and audited(session) == []


def test_api_names_every_invalid_field_at_once_and_changes_nothing(
    client: FlaskClient, session: Session, site: Site, admin: dict[str, str]
) -> None:
    response = client.put(
        BASE + "/settings",
        json={"spam_at": 2, "flood_max_per_ip": "x", "max_links": 3, "colour": "red"},
        headers=admin,
    )
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"spam_at", "flood_max_per_ip", "colour"}
    assert "max_links" not in stored_policy(session, site)


def test_api_refuses_a_hold_threshold_above_its_stronger_action(
    client: FlaskClient, session: Session, site: Site, admin: dict[str, str]
) -> None:
    # Against the default spam_at (0.995): holding from 0.999 would never hold.
    response = client.put(BASE + "/settings", json={"spam_hold_at": 0.999}, headers=admin)
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == ["spam_hold_at"]
    both = client.put(
        BASE + "/settings", json={"toxicity_hold_at": 0.9, "toxicity_reject_at": 0.8}, headers=admin
    )
    assert both.status_code == 422 and list(both.get_json()["fields"]) == ["toxicity_hold_at"]
    assert "toxicity_reject_at" not in stored_policy(session, site)
    fine = client.put(
        BASE + "/settings", json={"toxicity_hold_at": 0.8, "toxicity_reject_at": 0.9}, headers=admin
    )
    assert fine.status_code == 200


def test_api_shadow_checks_must_be_pipeline_checks(
    client: FlaskClient, session: Session, site: Site, admin: dict[str, str]
) -> None:
    bad = client.put(
        BASE + "/settings", json={"shadow_checks": ["toxicity", "horoscope"]}, headers=admin
    )
    assert bad.status_code == 422
    [message] = bad.get_json()["fields"]["shadow_checks"]
    assert "horoscope" in message and "spam_classifier" in message
    every = client.put(BASE + "/settings", json={"shadow_checks": check_names()}, headers=admin)
    assert every.status_code == 200 and every.get_json()["shadow_checks"] == check_names()
    none = client.put(BASE + "/settings", json={"shadow_checks": []}, headers=admin)
    assert none.get_json()["shadow_checks"] == []


def test_api_settings_are_for_admins(client: FlaskClient, session: Session, site: Site) -> None:
    mod = token(session, site, Role.MODERATOR)
    assert client.get(BASE + "/settings", headers=mod).status_code == 200
    refused = client.put(BASE + "/settings", json={"spam_at": 0.9}, headers=mod)
    assert refused.status_code == 403 and audited(session) == []


# -- the settings page -----------------------------------------------------------------------


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def log_in(client: FlaskClient, session: Session, site: Site, role: Role) -> str:
    """Log a moderator with `role` in; the settings page's CSRF token."""
    email = f"{role.value}@example.org"
    moderator(session, site, role, email)
    form = text(client.get("/moderation/login"))
    found = TOKEN_RE.search(form)
    assert found
    response = client.post(
        "/moderation/login",
        data={"email": email, "password": PASSWORD, "csrf_token": found.group(1)},
    )
    assert response.status_code == 303, text(response)
    page = TOKEN_RE.search(text(client.get(PAGE)))
    assert page
    return page.group(1)


def field_value(page: str, name: str) -> str:
    """The value of an input, or the text of a textarea, as the page shows it."""
    found = re.search(rf'<input id="{name}" name="{name}"[^>]* value="([^"]*)"', page)
    if found:
        return found.group(1)
    area = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>([^<]*)</textarea>', page)
    assert area, f"no field {name}"
    return area.group(1)


def shadow_boxes(page: str) -> dict[str, bool]:
    return {
        m.group(1): bool(m.group(2))
        for m in re.finditer(
            r'<input id="shadow-([a-z_]+)" name="shadow_checks" type="checkbox" '
            r'value="[a-z_]+"( checked)?>',
            page,
        )
    }


def test_the_page_shows_the_new_fieldsets_with_the_defaults(
    client: FlaskClient, session: Session, site: Site
) -> None:
    log_in(client, session, site, Role.ADMIN)
    page = text(client.get(PAGE))
    for legend in ("Moderation rules", "Links", "Classifiers", "Flood limits", "Shadow mode"):
        assert f"<legend>{legend}</legend>" in page
    assert field_value(page, "spam_hold_at") == "0.9"
    assert field_value(page, "spam_at") == "0.995"
    assert field_value(page, "toxicity_hold_at") == "0.7"
    assert field_value(page, "toxicity_reject_at") == ""  # opt-in: off
    assert "Opt-in" in page and "Empty (the default) is off" in page
    assert field_value(page, "flood_max_per_email") == "6"
    assert field_value(page, "duplicates_window_days") == "7"
    assert field_value(page, "blocked_domains") == ""
    assert shadow_boxes(page) == dict.fromkeys(check_names(), False)
    assert '<label for="shadow-spam_classifier">Spam classifier <code>' in page
    assert 'id="shadow_checks-hint"' in page and "never holds, rejects" in page
    assert page.count('name="fieldset"') == 2


def test_admins_save_the_new_settings_from_the_page(
    client: FlaskClient, session: Session, site: Site
) -> None:
    token_ = log_in(client, session, site, Role.ADMIN)
    response = client.post(
        PAGE,
        data={
            "csrf_token": token_,
            "fieldset": ["rules", "shadow"],
            "blocked_domains": "Casino.example\r\nloans.example  spam.example",
            "allowed_domains": "gazette.example",
            "spam_hold_at": "0.6",
            "spam_at": "0.95",
            "toxicity_hold_at": "0.55",
            "toxicity_reject_at": "",
            "flood_window_minutes": "30",
            "flood_max_per_ip": "20",
            "flood_max_per_email": "8",
            "flood_max_per_site": "5000",
            "duplicates_window_days": "14",
            "shadow_checks": ["toxicity", "duplicates"],
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/moderation/gazette/settings?saved=site")
    policy = stored_policy(session, site)
    assert policy["blocked_domains"] == ["casino.example", "loans.example", "spam.example"]
    assert policy["allowed_domains"] == ["gazette.example"]
    assert (policy["spam_hold_at"], policy["spam_at"], policy["toxicity_hold_at"]) == (
        0.6,
        0.95,
        0.55,
    )
    assert policy["shadow_checks"] == ["toxicity", "duplicates"]
    assert policy["flood_window_minutes"] == 30 and policy["flood_max_per_site"] == 5000
    assert policy["duplicates_window_days"] == 14
    # Unchanged defaults are not copied into the site's policy.
    assert "toxicity_reject_at" not in policy and "premoderation" not in policy
    [detail] = audited(session)
    assert detail["shadow_checks"] == {"before": [], "after": ["toxicity", "duplicates"]}
    assert set(detail) == {
        "blocked_domains",
        "allowed_domains",
        "spam_hold_at",
        "spam_at",
        "toxicity_hold_at",
        "flood_window_minutes",
        "flood_max_per_ip",
        "flood_max_per_email",
        "flood_max_per_site",
        "duplicates_window_days",
        "shadow_checks",
    }

    page = text(client.get(PAGE + "?saved=site"))
    assert 'id="saved"' in page
    assert field_value(page, "spam_hold_at") == "0.6"
    assert field_value(page, "blocked_domains") == "casino.example\nloans.example\nspam.example"
    boxes = shadow_boxes(page)
    assert boxes["toxicity"] and boxes["duplicates"] and not boxes["spam_classifier"]


def test_fields_absent_from_a_post_keep_their_values(
    client: FlaskClient, session: Session, site: Site
) -> None:
    site.policy = {
        **(site.policy or {}),
        "shadow_checks": ["toxicity"],
        "premoderation": True,
        "spam_at": 0.9,
        "blocked_domains": ["casino.example"],
    }
    session.commit()
    token_ = log_in(client, session, site, Role.ADMIN)
    # No shadow or rules fieldset marker, no spam_at, no domains: only the window changes.
    only = client.post(PAGE, data={"csrf_token": token_, "flood_window_minutes": "15"})
    assert only.status_code == 303
    policy = stored_policy(session, site)
    assert policy["flood_window_minutes"] == 15
    assert policy["shadow_checks"] == ["toxicity"] and policy["premoderation"] is True
    assert policy["spam_at"] == 0.9 and policy["blocked_domains"] == ["casino.example"]

    # With its marker, a fieldset whose boxes are all unchecked turns them all off.
    cleared = client.post(PAGE, data={"csrf_token": token_, "fieldset": "shadow"})
    assert cleared.status_code == 303
    policy = stored_policy(session, site)
    assert policy["shadow_checks"] == [] and policy["premoderation"] is True
    off = client.post(PAGE, data={"csrf_token": token_, "fieldset": "rules"})
    assert off.status_code == 303 and stored_policy(session, site)["premoderation"] is False
    assert audited(session)[-1] == {"premoderation": {"before": True, "after": False}}


def test_invalid_fields_are_marked_and_the_submitted_values_kept(
    client: FlaskClient, session: Session, site: Site
) -> None:
    token_ = log_in(client, session, site, Role.ADMIN)
    response = client.post(
        PAGE,
        data={
            "csrf_token": token_,
            "fieldset": ["rules", "shadow"],
            "spam_hold_at": "1.5",
            "spam_at": "0.9",
            "flood_max_per_ip": "many",
            "blocked_domains": "keep.example",
            "shadow_checks": ["links", "horoscope"],
            "premoderation": "on",
        },
    )
    assert response.status_code == 422
    page = text(response)
    assert "The settings were not saved" in page
    for name in ("spam_hold_at", "flood_max_per_ip", "shadow_checks"):
        assert f'id="{name}-error"' in page, name
    assert 'id="spam_at-error"' not in page
    assert re.search(
        r'id="spam_hold_at"[^>]*aria-describedby="spam_hold_at-hint '
        r'spam_hold_at-error" aria-invalid="true"',
        page,
    )
    assert field_value(page, "spam_hold_at") == "1.5"
    assert field_value(page, "flood_max_per_ip") == "many"
    assert field_value(page, "blocked_domains") == "keep.example"
    assert shadow_boxes(page)["links"] is True
    assert 'id="premoderation" name="premoderation" type="checkbox" value="on" checked' in page
    assert "horoscope" in page  # named in the error
    assert stored_policy(session, site).get("spam_at") is None and audited(session) == []


def test_moderators_see_the_settings_but_cannot_save_them(
    client: FlaskClient, session: Session, site: Site
) -> None:
    token_ = log_in(client, session, site, Role.MODERATOR)
    page = text(client.get(PAGE))
    assert page.count("<fieldset disabled") >= 5 and "Save settings" not in page
    refused = client.post(PAGE, data={"csrf_token": token_, "spam_at": "0.9"})
    assert refused.status_code == 403 and audited(session) == []


def test_the_form_needs_its_csrf_token(client: FlaskClient, session: Session, site: Site) -> None:
    log_in(client, session, site, Role.ADMIN)
    refused = client.post(PAGE, data={"spam_at": "0.9"})
    assert refused.status_code == 403
    assert "spam_at" not in stored_policy(session, site) and audited(session) == []
