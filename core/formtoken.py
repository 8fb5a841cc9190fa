"""Signed form tokens and what a submitting form reported (`comments.form_signals`).

A form token says "this service handed out a form for this site and this thread at this
time". It is `v1.<issued at, ms since the epoch>.<mac>`, where the MAC is HMAC-SHA256 over
the version, site key, thread key and issue time, under a key derived from the secret key
(so no other use of the secret key can produce one), truncated to 128 bits. Nothing is
stored on the server: any API replica with the same secret key verifies any token.

A token is a signal, never a gate: intake stores the outcome (valid, invalid, expired,
seconds since issue) and the honeypot field's state, and the `form_signals` check decides
what they mean. A client that sends no token at all (server-to-server API use) gets no
signals stored and no opinion from the check.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

TOKEN_VERSION = "v1"  # noqa: S105 (a format version, not a secret)
MAC_BYTES = 16
# API replicas' clocks may disagree a little; a token "from the future" beyond this is forged.
CLOCK_SKEW_SECONDS = 60.0
_KEY_LABEL = b"replyguard/form-token/v1"


class TokenState(enum.StrEnum):
    """Outcome of checking a form token."""

    VALID = "valid"
    INVALID = "invalid"  # malformed, forged, or issued for another site or thread
    EXPIRED = "expired"  # genuine but older than the maximum age


@dataclass(frozen=True)
class TokenCheck:
    """A token's state and, when it is genuine, the seconds between issue and check."""

    state: TokenState
    seconds: float | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FormTokens:
    """Issues and checks form tokens under one secret key."""

    def __init__(self, secret_key: str, *, max_age_seconds: int) -> None:
        self._key = hmac.new(secret_key.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self.max_age_seconds = max_age_seconds

    def _mac(self, site_key: str, thread_key: str, issued_ms: int) -> bytes:
        # Lengths prefix each part, so no choice of keys can make two messages collide.
        parts = (f"{len(site_key)}:{site_key}", f"{len(thread_key)}:{thread_key}", str(issued_ms))
        message = "|".join((TOKEN_VERSION, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES]

    def issue(self, site_key: str, thread_key: str, *, now: float | None = None) -> str:
        """A token for a form of this site's thread, issued now."""
        issued_ms = int((time.time() if now is None else now) * 1000)
        return f"{TOKEN_VERSION}.{issued_ms}.{_b64(self._mac(site_key, thread_key, issued_ms))}"

    def check(
        self, token: str, site_key: str, thread_key: str, *, now: float | None = None
    ) -> TokenCheck:
        """Whether the token is genuine for this site and thread, and how old it is."""
        now = time.time() if now is None else now
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION or not parts[1].isdigit():
            return TokenCheck(TokenState.INVALID)
        issued_ms = int(parts[1])
        try:
            mac = _unb64(parts[2])
        except (binascii.Error, ValueError):
            return TokenCheck(TokenState.INVALID)
        if not hmac.compare_digest(mac, self._mac(site_key, thread_key, issued_ms)):
            return TokenCheck(TokenState.INVALID)
        seconds = now - issued_ms / 1000
        if seconds < -CLOCK_SKEW_SECONDS:
            return TokenCheck(TokenState.INVALID)
        seconds = max(0.0, seconds)
        if seconds > self.max_age_seconds:
            return TokenCheck(TokenState.EXPIRED, seconds)
        return TokenCheck(TokenState.VALID, seconds)


def form_signals(check: TokenCheck | None, *, honeypot_filled: bool) -> dict[str, Any] | None:
    """What to store in `comments.form_signals`: None when the client sent neither a form
    token nor the honeypot field (an API client), else the token's state ("missing" when
    only the honeypot came), its age in seconds and whether the honeypot was filled."""
    if check is None and not honeypot_filled:
        return None
    return {
        "token": check.state.value if check else "missing",
        "seconds": round(check.seconds, 1) if check and check.seconds is not None else None,
        "honeypot": honeypot_filled,
    }
