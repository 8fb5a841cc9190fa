"""Webhook test kit: a real loopback receiver that records raw requests and follows a
script, a canary that counts hits, an egress guard, a stub resolver and a transaction
scope over the test's session.

`Receiver` is a threaded http.server on 127.0.0.1 (a free port). Each request's raw body
bytes and headers are recorded before it is answered, so a request the sender gave up on
(a timeout) is still seen. Replies come from `script` in order, then `default`; a reply
can sleep (bounded) before answering, or redirect.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from tests.support.polling import wait_for

MAX_SLEEP_SECONDS = 20.0


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    sleep: float = 0.0


@dataclass(frozen=True)
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """A scripted loopback HTTP receiver; use as a context manager."""

    def __init__(
        self, script: Sequence[Reply] = (), default: Reply | None = None, *, port: int = 0
    ) -> None:
        self.script = list(script)
        self.default = default or Reply()
        self.requests: list[Captured] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with owner._lock:
                    owner.requests.append(
                        Captured(
                            self.command, self.path, dict(self.headers.items()), body, time.time()
                        )
                    )
                    reply = owner.script.pop(0) if owner.script else owner.default
                if reply.sleep:
                    time.sleep(min(reply.sleep, MAX_SLEEP_SECONDS))
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the sender gave up (timeout): nothing to answer
                    pass

            do_POST = _handle  # noqa: N815
            do_GET = _handle  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hooks/replyguard") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Captured]:
        wait_for(
            lambda: len(self.requests) >= count,
            timeout=timeout,
            what=f"{count} webhook request(s) at the receiver",
        )
        return list(self.requests)


class StubResolver:
    """A resolver from a table (host -> addresses), or a callable per call number, that
    records every lookup. Unknown names fail like NXDOMAIN."""

    def __init__(
        self,
        table: Mapping[str, Sequence[str]] | None = None,
        per_call: Callable[[str, int], Sequence[str]] | None = None,
    ) -> None:
        self.table = dict(table or {})
        self.per_call = per_call
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        if self.per_call is not None:
            return self.per_call(host, len(self.calls))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@dataclass
class EgressGuard:
    """Records every connect(); any non-loopback destination is refused (and recorded)."""

    attempts: list[tuple[str, int]] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)


@contextmanager
def egress_guard() -> Iterator[EgressGuard]:
    """While active, sockets may only connect to 127.0.0.0/8 and ::1: anything else is
    refused with an OSError and recorded, so a test can prove nothing left the machine."""
    guard = EgressGuard()
    original = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = str(address[0]), int(address[1])
            guard.attempts.append((host, port))
            if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
                guard.refused.append((host, port))
                raise ConnectionRefusedError(f"egress guard: {host}:{port} is not loopback")
        original(sock, address)

    socket.socket.connect = guarded  # type: ignore[method-assign,assignment]
    try:
        yield guard
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


def session_scope_of(session: Session) -> Callable[[], Any]:
    """A `scope` for core.webhooks.delivery.attempt over the test's own session (each
    commit is a SAVEPOINT the test rolls back at the end)."""

    @contextmanager
    def scope() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    return scope
