"""Rate limits on submissions (R1, R2): independent buckets per address, per email and per
site in the test Redis; 429 with Retry-After and a generic body; refused requests store
nothing; with the Redis unreachable the limits fall back to this process, never a 500."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import create_app
from core.config import ConfigError, Settings
from core.sites import ensure_site
from models import Comment
from tests.conftest import TEST_ORIGIN
from tests.support.databases import REDIS_URL

URL = "/api/v1/sites/gazette/comments"
_serial = iter(range(1, 1_000_000))


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards."""
    name = f"rg-test-rl-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)


def limited_app(settings: Settings, session: Session, prefix: str, **overrides: Any) -> Flask:
    values: dict[str, Any] = {
        "rate_limits": "on",
        "rate_limit_prefix": prefix,
        "flood_seconds": 0,  # the domain's own flood rule would answer first otherwise
        "rate_limit_ip": "5/minute",
        "rate_limit_email": "3/minute",
        "rate_limit_site": "50/minute",
    }
    values.update(overrides)
    app = create_app(settings.with_overrides(**values))
    app.config["TESTING"] = False
    app.extensions["sessionmaker"] = lambda: session
    return app


def post(client: FlaskClient, *, ip: str, email: str, site: str = "gazette") -> Any:
    n = next(_serial)
    return client.post(
        f"/api/v1/sites/{site}/comments",
        json={
            "thread": "council-vote",
            "comment": f"Remark number {n} on the vote.",
            "name": f"Reader {n}",
            "email": email,
        },
        headers={"Origin": TEST_ORIGIN},
        environ_base={"REMOTE_ADDR": ip},
    )


def stored(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Comment)) or 0)


@pytest.mark.usefixtures("site")
def test_one_address_many_emails_is_limited_per_address(
    settings: Settings, session: Session, prefix: str
) -> None:
    client = limited_app(settings, session, prefix).test_client()
    before = stored(session)
    answers = [post(client, ip="198.51.100.7", email=f"r{n}@example.org") for n in range(20)]
    assert [r.status_code for r in answers] == [202] * 5 + [429] * 15
    refused = answers[-1]
    assert refused.get_json() == {
        "error": "rate_limited",
        "message": refused.get_json()["message"],
    }
    for word in ("ip", "email", "site", "address", "bucket"):
        assert word not in refused.get_json()["message"].lower()
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # CORS headers, so the widget on the site's pages can read the answer.
    assert refused.headers["Access-Control-Allow-Origin"] == TEST_ORIGIN
    assert stored(session) == before + 5  # every 202 is in the ledger, nothing else
    assert post(client, ip="198.51.100.8", email="fresh@example.org").status_code == 202


@pytest.mark.usefixtures("site")
def test_one_email_many_addresses_is_limited_per_email(
    settings: Settings, session: Session, prefix: str
) -> None:
    client = limited_app(settings, session, prefix).test_client()
    answers = [post(client, ip=f"203.0.113.{n}", email="Same@Example.org") for n in range(1, 21)]
    assert [r.status_code for r in answers] == [202] * 3 + [429] * 17
    # The blind index casefolds: a case variant is the same bucket.
    assert post(client, ip="203.0.113.99", email="same@example.ORG").status_code == 429


@pytest.mark.usefixtures("site")
def test_site_bucket_is_per_site_and_not_charged_by_refused_requests(
    settings: Settings, session: Session, prefix: str
) -> None:
    ensure_site(session, "herald", name="Herald", allowed_origins=[TEST_ORIGIN])
    session.commit()
    client = limited_app(
        settings, session, prefix, rate_limit_ip="2/minute", rate_limit_site="6/minute"
    ).test_client()
    # One noisy address: 2 accepted, 8 refused by its own bucket, none of them charged
    # to the site's budget.
    noisy = [post(client, ip="198.51.100.50", email=f"n{n}@example.org") for n in range(10)]
    assert [r.status_code for r in noisy].count(202) == 2
    others = [post(client, ip=f"192.0.2.{n}", email=f"o{n}@example.org") for n in range(1, 8)]
    assert [r.status_code for r in others] == [202] * 4 + [429] * 3
    # Another site has its own budget.
    assert post(client, ip="192.0.2.77", email="h@example.org", site="herald").status_code == 202


@pytest.mark.usefixtures("site")
def test_unreachable_redis_fails_open_to_an_in_process_limiter(
    settings: Settings, session: Session, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = limited_app(settings, session, prefix, rate_limit_url="redis://127.0.0.1:1/0")
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        answers = [post(client, ip="198.51.100.9", email=f"d{n}@example.org") for n in range(8)]
    # Never a 500: the same limits, counted in this process.
    assert [r.status_code for r in answers] == [202] * 5 + [429] * 3
    warnings = [r for r in caplog.records if "in-memory" in r.getMessage()]
    assert len(warnings) == 1  # logged once per outage, not once per request
    assert app.extensions["replyguard.rate_limits"].using_fallback


@pytest.mark.usefixtures("site")
def test_keys_hold_no_address_and_no_email(
    settings: Settings, session: Session, prefix: str
) -> None:
    client = limited_app(settings, session, prefix).test_client()
    email = f"canary+{uuid.uuid4().hex}@example.org"
    assert post(client, ip="198.51.100.77", email=email).status_code == 202
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(f"{prefix}*")]
    assert keys, "nothing was counted in Redis"
    for key in keys:
        assert "198.51.100.77" not in key
        assert email.split("@")[0].lower() not in key.lower()


@pytest.mark.usefixtures("site")
def test_limits_can_be_turned_off(settings: Settings, session: Session, prefix: str) -> None:
    client = limited_app(settings, session, prefix, rate_limits="off").test_client()
    answers = [post(client, ip="198.51.100.7", email="same@example.org") for _ in range(8)]
    assert {r.status_code for r in answers} == {202}


def test_auto_means_production_only() -> None:
    assert Settings(env="production").rate_limits_on
    assert not Settings(env="development").rate_limits_on
    assert not Settings(env="test").rate_limits_on
    assert Settings(env="test", rate_limits="on").rate_limits_on
    assert not Settings(env="production", rate_limits="off").rate_limits_on
    env = {"REPLYGUARD_RATE_LIMIT_IP": "10/second", "REPLYGUARD_RATE_LIMITS": "on"}
    assert Settings.from_env(env).rate_limit_ip == "10/second"


def test_bad_limits_refuse_to_start(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="REPLYGUARD_RATE_LIMIT_EMAIL"):
        create_app(settings.with_overrides(rate_limit_email="three per minute"))
