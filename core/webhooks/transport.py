"""One webhook POST: the exact body bytes, over a connection pinned to a checked address.

- The connection goes to one of `Target.addresses` (the addresses `ssrf.check` just
  approved), never to a fresh lookup of the name: http.client's own `connect` would
  resolve the host again, and a rebinding DNS server could then answer 127.0.0.1. The
  Host header and TLS SNI (and certificate check) still use the name.
- Connect timeout 5 s, and a hard deadline of 15 s for the whole exchange: a watchdog
  shuts the socket down at the deadline, so a receiver that drips one byte at a time
  cannot hold a worker longer than that (a per-read socket timeout alone would not).
- Redirects are never followed (http.client does not): a 3xx is a failed attempt.
- Only the first 1 KB of the response body is read and kept.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.webhooks.ssrf import Target

EXCERPT_BYTES = 1024
MAX_RETRY_AFTER_SECONDS = 24 * 3600
USER_AGENT = "Replyguard-Webhooks/1"

Connector = Callable[[tuple[str, int], float], socket.socket]


@dataclass(frozen=True)
class SendResult:
    """What one attempt got: `outcome` is success, http_error, redirect, timeout,
    connection_error or blocked_url."""

    outcome: str
    latency_ms: int
    status_code: int | None = None
    excerpt: str = ""
    retry_after: float | None = None  # seconds, from a Retry-After header
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


def open_connection(address: tuple[str, int], timeout: float) -> socket.socket:
    """The default connector: a TCP connection to exactly this (ip, port)."""
    return socket.create_connection(address, timeout=timeout)


class PinnedConnection(http.client.HTTPConnection):
    """HTTP(S) to `host` whose socket connects to the pre-checked `addresses` only."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float,
        connect_timeout: float,
        connector: Connector,
        tls: ssl.SSLContext | None,
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._addresses = target.addresses
        self._connect_timeout = connect_timeout
        self._connector = connector
        self._tls = tls

    def connect(self) -> None:
        last: OSError | None = None
        for address in self._addresses:  # every one of them passed the SSRF check
            try:
                sock = self._connector((address, self.port), self._connect_timeout)
                break
            except OSError as exc:
                last = exc
        else:
            raise last or OSError("no address to connect to")
        sock.settimeout(self.timeout)
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now
    return max(0.0, min(seconds, MAX_RETRY_AFTER_SECONDS))


def post(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    connect_timeout: float,
    connector: Connector = open_connection,
    tls: ssl.SSLContext | None = None,
) -> SendResult:
    """POST `body` to `target`; never raises for network trouble, returns the outcome."""
    if target.scheme == "https" and tls is None:
        tls = ssl.create_default_context()  # verifies the certificate against the name
    connection = PinnedConnection(
        target,
        timeout=timeout,
        connect_timeout=min(connect_timeout, timeout),
        connector=connector,
        tls=tls if target.scheme == "https" else None,
    )
    expired = threading.Event()

    def abort() -> None:  # the whole exchange took too long: cut it off
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing to cut
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, abort)
    watchdog.daemon = True
    started = time.monotonic()
    sent_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Connection": "close",
        **headers,
    }
    watchdog.start()
    try:
        connection.request("POST", target.path, body=body, headers=sent_headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES)
        status = response.status
        retry_after = retry_after_seconds(response.getheader("Retry-After"), now=time.time())
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        latency = int((time.monotonic() - started) * 1000)
        if expired.is_set() or isinstance(exc, TimeoutError):
            return SendResult("timeout", latency, error=f"no complete answer within {timeout:g} s")
        return SendResult("connection_error", latency, error=_describe(exc))
    finally:
        watchdog.cancel()
        connection.close()
    latency = int((time.monotonic() - started) * 1000)
    if expired.is_set():
        return SendResult("timeout", latency, error=f"no complete answer within {timeout:g} s")
    text = excerpt.decode("utf-8", errors="replace")
    if 200 <= status < 300:
        outcome = "success"
    elif 300 <= status < 400:
        outcome = "redirect"  # not followed: the receiver should register the final URL
    else:
        outcome = "http_error"
    return SendResult(
        outcome,
        latency,
        status_code=status,
        excerpt=text,
        retry_after=retry_after,
        error=None if outcome == "success" else f"HTTP {status}",
    )


def _describe(exc: BaseException) -> str:
    """A short, secret-free description of a network error."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
