"""Inputs that parse but cannot mean anything (ids beyond 64 bits, unparseable hosts) get
a client answer, never a 500 (both found by schemathesis and Hypothesis)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models import Role, Site
from tests.api.test_submit import URL, valid
from tests.support.moderation import token

BASE = "/api/v1/sites/gazette/moderation"
HUGE = str(2**70)


def test_ids_beyond_64_bits_count_as_absent(
    client: FlaskClient, session: Session, site: Site
) -> None:
    headers = token(session, site, Role.ADMIN)
    session.commit()
    for path in (
        f"/audit?before={HUGE}&limit=5",
        f"/audit?comment={HUGE}",
        f"/stats?days={HUGE}",
    ):
        response = client.get(BASE + path, headers=headers)
        assert response.status_code == 200, (path, response.status_code)
    listing = client.get(f"/api/v1/sites/gazette/threads/any/comments?after={HUGE}")
    assert listing.status_code in (200, 404)


def test_a_website_with_a_broken_bracketed_host_is_a_field_error(
    client: FlaskClient, site: Site
) -> None:
    for website in ("http://[", "http://[::1", "https://[not-an-ip]/"):
        response = client.post(URL, json=valid(website=website))
        assert response.status_code == 422, website
        assert "website" in response.get_json()["fields"]
