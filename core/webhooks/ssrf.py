"""Which webhook URLs may be called: the SSRF defence, applied at registration and again at
every send, on the addresses the host resolves to at that moment.

A URL passes only if it is http or https (https only in production), has no user-info,
uses an allowed port (80, 443, 8080, as WordPress allows) and every address its host
resolves to is public. Refused: loopback, unspecified, private, link-local, shared
(CGNAT 100.64/10), multicast, reserved and other non-global ranges, cloud metadata
addresses and names, IPv4-mapped IPv6 forms of any of those, and every IPv6 form that
embeds an IPv4 address (NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo 2001::/32), because
Python's `is_global` calls some of those global although they may lead back inside.

Hosts are never judged by their spelling alone. Numeric spellings that `ipaddress`
rejects but the C resolver accepts (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`,
`0`) are decoded the way `inet_aton` does and checked as the address they are. A name is
resolved (all A and AAAA records) and every address must pass; the caller then connects
only to those checked addresses (`Target.addresses`), so a DNS answer that changes after
the check (rebinding) is never used.

Loopback addresses (and `localhost`) are refused unless the development setting
`webhooks_allow_loopback` is on; then any port is allowed on loopback only.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from core.config import Settings
from core.errors import WebhookUrlBlocked

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2000
ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED_PORTS = frozenset({80, 443, 8080})
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
EMBEDDED_IPV4_NETWORKS = (
    (ipaddress.ip_network("64:ff9b::/96"), "nat64"),
    (ipaddress.ip_network("64:ff9b:1::/48"), "nat64"),
    (ipaddress.ip_network("2002::/16"), "6to4"),
    (ipaddress.ip_network("2001::/32"), "teredo"),
)
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d

REASON_TEXT = {
    "invalid_url": "not a valid absolute URL",
    "scheme_not_allowed": "only http and https URLs can receive webhooks",
    "https_required": "webhook URLs must use https",
    "userinfo_not_allowed": "user names and passwords in URLs are not allowed",
    "missing_host": "the URL has no host",
    "invalid_port": "the port is not a number between 1 and 65535",
    "port_not_allowed": "only ports 80, 443 and 8080 can receive webhooks",
    "dns_failure": "the host name does not resolve",
    "metadata": "a cloud metadata service",
    "loopback": "a loopback address (this machine)",
    "unspecified": "the unspecified address",
    "link_local": "a link-local address",
    "shared_address_space": "a carrier-grade NAT address (100.64.0.0/10)",
    "private": "a private network address",
    "multicast": "a multicast address",
    "reserved": "a reserved address",
    "not_global": "not a public internet address",
    "nat64": "an IPv6 address embedding an IPv4 one (NAT64)",
    "6to4": "an IPv6 address embedding an IPv4 one (6to4)",
    "teredo": "an IPv6 address embedding an IPv4 one (Teredo)",
    "ipv4_compatible": "an IPv4-compatible IPv6 address",
}


@dataclass(frozen=True)
class UrlPolicy:
    """What may be called. Production requires https; development may allow loopback."""

    allow_loopback: bool = False
    require_https: bool = False
    ports: frozenset[int] = ALLOWED_PORTS

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            allow_loopback=settings.webhooks_allow_loopback,
            require_https=settings.is_production,
        )


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (only `addresses`) and what to send as Host/SNI."""

    scheme: str
    host: str  # ASCII (IDNA) name or canonical IP (no brackets), for Host and TLS SNI
    port: int
    path: str  # path and query, never the fragment
    addresses: tuple[str, ...]


def blocked(reason: str, detail: str = "") -> WebhookUrlBlocked:
    text = REASON_TEXT.get(reason, reason)
    return WebhookUrlBlocked(
        f"This URL cannot receive webhooks: {detail + ' is ' if detail else ''}{text}.",
        reason=reason,
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address (A and AAAA) the system resolver gives for `host`, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in found:
            found.append(address)
    return found


def address_reason(address: IPAddress, policy: UrlPolicy) -> str | None:
    """Why this address may not be called, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d on the wire
            return address_reason(address.ipv4_mapped, policy)
        for network, reason in EMBEDDED_IPV4_NETWORKS:
            if address in network:
                return reason
        if address in IPV4_COMPATIBLE and not (address.is_loopback or address.is_unspecified):
            return "ipv4_compatible"
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return None if policy.allow_loopback else "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link_local"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return "shared_address_space"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:  # before is_private, which also covers 240.0.0.0/4
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not_global"
    return None


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host stands for, including the legacy spellings `inet_aton`
    accepts (decimal, hex, octal, fewer than four parts); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        packed = socket.inet_aton(host)
    except OSError:
        return None
    return ipaddress.IPv4Address(packed)


def check(url: str, policy: UrlPolicy, resolver: Resolver = system_resolver) -> Target:
    """The Target to connect to, or WebhookUrlBlocked naming the reason."""
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in url):
        raise blocked("invalid_url")
    try:
        parts = urlsplit(url)
        port_written = parts.port
    except ValueError as exc:
        reason = "invalid_port" if "port" in str(exc).lower() else "invalid_url"
        raise blocked(reason) from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise blocked("scheme_not_allowed")
    if policy.require_https and scheme != "https":
        raise blocked("https_required")
    if "@" in parts.netloc:
        raise blocked("userinfo_not_allowed")
    raw_host = parts.hostname or ""
    if not raw_host:
        raise blocked("missing_host")
    if "%" in raw_host:  # an IPv6 zone id: only meaningful for link-local addresses
        raise blocked("link_local")
    try:
        host = raw_host.encode("idna").decode("ascii").rstrip(".")
    except UnicodeError as exc:
        raise blocked("invalid_url") from exc
    if not host:
        raise blocked("missing_host")
    port = port_written if port_written is not None else DEFAULT_PORTS[scheme]
    if port == 0:
        raise blocked("invalid_port")
    if port not in policy.ports and not policy.allow_loopback:
        raise blocked("port_not_allowed")

    literal = numeric_host(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        if host in METADATA_HOSTS or host.endswith(".metadata.google.internal"):
            raise blocked("metadata", host)
        if (host == "localhost" or host.endswith(".localhost")) and not policy.allow_loopback:
            raise blocked("loopback", host)
        try:
            resolved = list(resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise blocked("dns_failure", host) from exc
        if not resolved:
            raise blocked("dns_failure", host)
        addresses = []
        for text in resolved:
            try:
                addresses.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError as exc:
                raise blocked("dns_failure", host) from exc
    for address in addresses:
        why = address_reason(address, policy)
        if why is not None:
            raise blocked(why, str(address))
    if port not in policy.ports and not all(a.is_loopback for a in addresses):
        raise blocked("port_not_allowed")  # the development allowance is loopback-only

    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        scheme=scheme,
        host=host if literal is None else str(literal),
        port=port,
        path=path,
        addresses=tuple(str(a) for a in addresses),
    )
