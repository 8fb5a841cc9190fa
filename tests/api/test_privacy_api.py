"""GDPR export and erase over HTTP (RELIABILITY P6, P7, P9, M6, M8): admins only, the email
in the body and never in an answer, audited, paginated, idempotent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.privacy import PrivacyVault
from core.sites import ensure_site
from models import AuditEntry, CommentStatus, Role, Site
from tests.core.test_gdpr import make_comment, unique_email
from tests.support.moderation import token

BASE = "/api/v1/sites/gazette/privacy"


def post(client: FlaskClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(
        BASE + path, data=json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def admin(session: Session, site: Site) -> dict[str, str]:
    return token(session, site, Role.ADMIN)


def test_only_admins_of_the_site_may_export_or_erase(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault
) -> None:
    email = unique_email()
    make_comment(session, site, vault, email)
    session.commit()
    other = ensure_site(session, "other-privacy", name="Other")
    session.commit()
    cases = {
        "anonymous": ({}, 401),
        "viewer": (token(session, site, Role.VIEWER), 403),
        "moderator": (token(session, site, Role.MODERATOR), 403),
        "admin of another site": (token(session, other, Role.ADMIN), 404),
    }
    for who, (headers, status) in cases.items():
        for path in ("/export", "/erase"):
            response = post(client, path, {"email": email}, headers)
            assert response.status_code == status, (who, path)
            assert email.casefold() not in response.get_data(as_text=True).casefold()
    # The comment is untouched:
    exported = post(client, "/export", {"email": email}, token(session, site, Role.ADMIN))
    assert exported.get_json()["comments"][0]["author_name"] == "Jane Reader"


def test_export_pages_every_status_and_never_echoes_the_email(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, admin: dict[str, str]
) -> None:
    email = unique_email()
    statuses = [
        CommentStatus.APPROVED,
        CommentStatus.PENDING,
        CommentStatus.HELD,
        CommentStatus.SPAM,
    ]
    ids = [make_comment(session, site, vault, email, status=s).id for s in statuses]
    make_comment(session, site, vault, unique_email("other"))
    session.commit()
    first = post(client, "/export", {"email": email.upper(), "limit": 3}, admin)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    body = first.get_json()
    assert [c["id"] for c in body["comments"]] == ids[:3] and body["done"] is False
    second = post(
        client, "/export", {"email": email, "cursor": body["next_cursor"]}, admin
    ).get_json()
    assert [c["id"] for c in second["comments"]] == ids[3:] and second["done"] is True
    assert [c["status"] for c in body["comments"] + second["comments"]] == [
        s.value for s in statuses
    ]
    for response in (first.get_data(as_text=True), json.dumps(second)):
        assert email.casefold() not in response.casefold()
    audits = session.scalars(
        select(AuditEntry).where(
            AuditEntry.site_id == site.id, AuditEntry.action == "privacy.export"
        )
    ).all()
    assert [a.detail for a in audits] == [{"comments": 3}, {"comments": 1}]


def test_erase_is_idempotent_and_audited_without_the_email(
    client: FlaskClient, session: Session, site: Site, vault: PrivacyVault, admin: dict[str, str]
) -> None:
    email = unique_email()
    for status in (CommentStatus.APPROVED, CommentStatus.PENDING, CommentStatus.SPAM):
        make_comment(session, site, vault, email, status=status)
    session.commit()
    first = post(client, "/erase", {"email": email}, admin)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert (body["erased"], body["done"]) == (3, True)
    assert email.casefold() not in first.get_data(as_text=True).casefold()
    again = post(client, "/erase", {"email": email.upper()}, admin).get_json()
    assert (again["erased"], again["done"]) == (0, True)
    entry = session.get(AuditEntry, body["audit_id"])
    assert entry is not None and entry.action == "privacy.erase"
    assert entry.detail["comments"] == 3
    assert email.casefold() not in json.dumps(entry.detail).casefold()
    assert post(client, "/export", {"email": email}, admin).get_json()["comments"] == []


def test_bad_requests_answer_without_repeating_the_input(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    secretish = "not-an-address-canary"
    response = post(client, "/erase", {"email": secretish}, admin)
    assert response.status_code == 422
    assert secretish not in response.get_data(as_text=True)
    assert post(client, "/erase", {"email": "a@b.example", "x": 1}, admin).status_code == 422
    assert post(client, "/export", {}, admin).status_code == 422
    plain = client.post(BASE + "/erase", data="email=a@b.example", headers=admin)
    assert plain.status_code == 415
