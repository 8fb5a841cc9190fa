"""ProxyFix trusts exactly `proxy_hops` proxies (R3): a client cannot choose the address
its comment (and its rate-limit bucket) is counted under by sending X-Forwarded-For."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, request
from sqlalchemy.orm import Session

from api import create_app
from core.config import Settings


def address_app(settings: Settings, session: Session, hops: int) -> Flask:
    app = create_app(settings.with_overrides(proxy_hops=hops))
    app.extensions["sessionmaker"] = lambda: session

    @app.get("/_test/whoami")
    def whoami() -> Any:
        return jsonify({"addr": request.remote_addr, "scheme": request.scheme})

    return app


# (hops, X-Forwarded-For as received by the app, the address the app must use).
# The socket peer is always 10.0.0.1 (the nearest proxy).
CASES = [
    (0, None, "10.0.0.1"),
    (0, "203.0.113.9", "10.0.0.1"),  # no trusted proxy: the header is ignored
    (1, "203.0.113.9", "203.0.113.9"),
    # A client that sends its own header: the one proxy appends the real peer.
    (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),
    (1, "6.6.6.6, 7.7.7.7, 203.0.113.9", "203.0.113.9"),
    (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
    # Fewer entries than trusted hops: nothing in the header is trusted.
    (2, "203.0.113.9", "10.0.0.1"),
]


@pytest.mark.parametrize(("hops", "forwarded", "expected"), CASES)
def test_only_the_configured_hops_are_trusted(
    settings: Settings, session: Session, hops: int, forwarded: str | None, expected: str
) -> None:
    client = address_app(settings, session, hops).test_client()
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.get(
        "/_test/whoami", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert response.get_json()["addr"] == expected


def test_forwarded_proto_needs_a_trusted_hop(settings: Settings, session: Session) -> None:
    untrusted = address_app(settings, session, 0).test_client()
    trusted = address_app(settings, session, 1).test_client()
    headers = {"X-Forwarded-Proto": "https"}
    assert untrusted.get("/_test/whoami", headers=headers).get_json()["scheme"] == "http"
    assert trusted.get("/_test/whoami", headers=headers).get_json()["scheme"] == "https"


def test_spoofed_header_does_not_move_the_rate_limit_bucket(
    settings: Settings, session: Session, site: Any
) -> None:
    """Behind one proxy, a client rotating X-Forwarded-For values stays in one bucket."""
    app = create_app(
        settings.with_overrides(
            proxy_hops=1,
            rate_limits="on",
            rate_limit_url="memory://",
            rate_limit_ip="3/minute",
            rate_limit_email="",
            flood_seconds=0,
        )
    )
    app.extensions["sessionmaker"] = lambda: session
    client = app.test_client()
    codes = []
    for n in range(6):
        response = client.post(
            f"/api/v1/sites/{site.key}/comments",
            json={
                "thread": "t",
                "comment": f"Spoofed remark {n}.",
                "name": f"N{n}",
                "email": f"s{n}@example.org",
            },
            # what the proxy forwards: the client's forged value, then the real peer
            headers={"X-Forwarded-For": f"198.18.0.{n}, 203.0.113.50"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
        codes.append(response.status_code)
    assert codes == [202] * 3 + [429] * 3
