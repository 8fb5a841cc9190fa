"""The SSRF rules on their own: the W11 table (every URL refused with a named reason, on
resolved addresses from a stub resolver, under an egress guard that proves nothing was
connected), what passes, the development loopback allowance, and W12's rebinding case:
the connection goes to the address that was checked, never to a second DNS answer."""

from __future__ import annotations

import ipaddress

import pytest

from core.config import Settings
from core.errors import WebhookUrlBlocked
from core.webhooks import signing, ssrf, transport
from core.webhooks.delivery import Claim, DeliveryConfig, send
from models.base import utcnow
from tests.support.webhooks import Receiver, Reply, StubResolver, egress_guard

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
RESOLVER = StubResolver(
    {
        "example.com": [PUBLIC_V4, PUBLIC_V6],
        "localhost": ["127.0.0.1", "::1"],
        "hooks.news.example": [PUBLIC_V4],
        "split.example": [PUBLIC_V4, "10.1.2.3"],  # one bad address is enough to refuse
        "rebind.example": ["127.0.0.1"],
    }
)
STRICT = ssrf.UrlPolicy()

# W11, RELIABILITY.md: every one of these is refused, each for a named reason.
W11 = [
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://0/", "unspecified"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[64:ff9b::7f00:1]/", "nat64"),
    ("http://[2002:7f00:1::]/", "6to4"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://metadata.google.internal/", "metadata"),
    ("http://100.64.0.1/", "shared_address_space"),
    ("http://10.0.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://[fe80::1]/", "link_local"),
    ("http://[fc00::1]/", "private"),
    ("http://user:pass@example.com/", "userinfo_not_allowed"),
    ("ftp://example.com/", "scheme_not_allowed"),
    ("file:///x", "scheme_not_allowed"),
    ("gopher://example.com/", "scheme_not_allowed"),
    ("http://example.com:6379/", "port_not_allowed"),
]
MORE_REFUSED = [
    ("http://split.example/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://[::ffff:10.0.0.1]/", "private"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "teredo"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://198.18.0.1/", "private"),
    ("http://[fe80::1%25eth0]/", "link_local"),
    ("http://nowhere.invalid/", "dns_failure"),
    ("http://example.com:0/", "invalid_port"),
    ("http://example.com:99999/", "invalid_port"),
    ("http:///path", "missing_host"),
    ("http://exa mple.com/", "invalid_url"),
    ("https://foo.localhost/", "loopback"),
    ("http://user@example.com/", "userinfo_not_allowed"),
]


@pytest.mark.parametrize(("url", "reason"), W11 + MORE_REFUSED)
def test_refused_urls_name_their_reason(url: str, reason: str) -> None:
    """W11: refused on the resolved (or decoded) address; nothing is connected."""
    with egress_guard() as guard, pytest.raises(WebhookUrlBlocked) as info:
        ssrf.check(url, STRICT, RESOLVER)
    assert info.value.reason == reason, info.value.message
    assert info.value.code == "webhook_url_blocked"
    assert guard.attempts == []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "http://hooks.news.example:8080/x?y=1",
        f"http://{PUBLIC_V4}/",
        f"http://[{PUBLIC_V6}]:443/",
        "http://[::ffff:93.184.216.34]/",
    ],
)
def test_public_urls_pass_with_their_checked_addresses(url: str) -> None:
    target = ssrf.check(url, STRICT, RESOLVER)
    assert target.addresses
    assert all(
        ssrf.address_reason(ipaddress.ip_address(a), STRICT) is None for a in target.addresses
    )


def test_every_resolved_address_is_kept_for_pinning() -> None:
    target = ssrf.check("https://example.com/a?b=c#frag", STRICT, RESOLVER)
    assert target.addresses == (PUBLIC_V4, PUBLIC_V6)
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "example.com",
        443,
        "/a?b=c",
    )


def test_production_requires_https() -> None:
    with pytest.raises(WebhookUrlBlocked) as info:
        ssrf.check("http://example.com/", ssrf.UrlPolicy(require_https=True), RESOLVER)
    assert info.value.reason == "https_required"


def test_loopback_allowance_is_loopback_only() -> None:
    """The development setting opens loopback (any port) and nothing else."""
    dev = ssrf.UrlPolicy(allow_loopback=True)
    assert ssrf.check("http://127.0.0.1:8123/h", dev, RESOLVER).addresses == ("127.0.0.1",)
    assert ssrf.check("http://localhost:9/", dev, RESOLVER).addresses == ("127.0.0.1", "::1")
    for url, reason in [
        ("http://10.0.0.1/", "private"),
        ("http://0/", "unspecified"),
        ("http://169.254.169.254/", "metadata"),
        ("http://example.com:6379/", "port_not_allowed"),
    ]:
        with pytest.raises(WebhookUrlBlocked) as info:
            ssrf.check(url, dev, RESOLVER)
        assert info.value.reason == reason


def test_policy_from_settings() -> None:
    assert ssrf.UrlPolicy.from_settings(Settings()) == ssrf.UrlPolicy()
    prod = ssrf.UrlPolicy.from_settings(Settings(env="production"))
    assert prod.require_https and not prod.allow_loopback
    dev = ssrf.UrlPolicy.from_settings(Settings(webhooks_allow_loopback=True))
    assert dev.allow_loopback


def _claim(url: str) -> Claim:
    return Claim(
        delivery_id=1,
        endpoint_id=1,
        webhook_id="evt_rebind",
        url=url,
        body=b'{"type":"webhook.test"}',
        secrets=(signing.new_secret(),),
        claimed_at=utcnow(),
        trigger="schedule",
    )


def test_rebinding_to_loopback_at_send_time_is_blocked() -> None:
    """W12: the name resolved to a public address when it was registered, and to 127.0.0.1
    now: the send-time check refuses it, nothing connects, the canary stays silent."""
    answers = {1: [PUBLIC_V4]}
    resolver = StubResolver(per_call=lambda _host, n: answers.get(n, ["127.0.0.1"]))
    with Receiver() as canary:
        url = f"http://rebind.example:{canary.port}/"
        config = DeliveryConfig(
            policy=ssrf.UrlPolicy(ports=frozenset({canary.port})), resolver=resolver
        )
        ssrf.check(url, config.policy, resolver)  # registration: public, accepted
        with egress_guard() as guard:
            result = send(_claim(url), now=utcnow(), config=config)
    assert result.outcome == "blocked_url"
    assert result.error is not None and result.error.startswith("loopback")
    assert guard.attempts == []
    assert canary.requests == []


def test_connection_goes_to_the_checked_address_only() -> None:
    """W12, pinning: one lookup per attempt, and the socket connects to exactly the address
    that lookup returned and the check approved, whatever DNS would say a moment later
    (http.client's own connect would have resolved the name again)."""
    answers = {1: [PUBLIC_V4]}
    resolver = StubResolver(per_call=lambda _host, n: answers.get(n, ["127.0.0.1"]))
    with Receiver() as canary:
        config = DeliveryConfig(
            policy=ssrf.UrlPolicy(ports=frozenset({canary.port})),
            resolver=resolver,
            timeout=2.0,
            connect_timeout=1.0,
        )
        with egress_guard() as guard:
            result = send(
                _claim(f"http://rebind.example:{canary.port}/h"), now=utcnow(), config=config
            )
    assert resolver.calls == [("rebind.example", canary.port)]
    assert guard.attempts == [(PUBLIC_V4, canary.port)]  # refused by the guard, not sent
    assert result.outcome == "connection_error"
    assert canary.requests == []


def test_redirects_are_not_followed() -> None:
    """W6/W12: a 302 to a loopback canary is a failed attempt; the canary is never hit."""
    with (
        Receiver() as canary,
        Receiver(default=Reply(302, {"Location": canary.url("/internal")}, b"moved")) as receiver,
    ):
        target = ssrf.check(receiver.url(), ssrf.UrlPolicy(allow_loopback=True))
        result = transport.post(target, b"{}", {}, timeout=5, connect_timeout=2)
    assert result.outcome == "redirect" and result.status_code == 302
    assert len(receiver.requests) == 1
    assert canary.requests == []
