"""Standard Webhooks signatures (scheme `v1`, HMAC-SHA256) and the verifier we document.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes
sent. A secret is `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64), unique
per endpoint. `webhook-signature` is a space-separated list with one `v1,<base64>` entry
per secret, so during a rotation the old and the new secret both sign and a receiver
that knows either one verifies.

`verify` is the receiver side, for our own tests and for the sample we give subscribers:
the timestamp must be within the tolerance in both directions (there is no way to turn
that check off), and signatures are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
TOLERANCE_SECONDS = 300
SIGNATURE_VERSION = "v1"


class VerificationError(Exception):
    """A delivery that must not be trusted; the message says why."""


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_…` secret (the prefix is optional, as in the spec's
    libraries). Raises ValueError for anything that is not base64 of 24 to 64 bytes."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is base64 after `whsec_`") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of `msg_id.timestamp.body`."""
    if "." in msg_id:  # the spec: ids must not contain the delimiter
        raise ValueError("a webhook id must not contain '.'")
    signed = msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret given (newest first)."""
    if not secrets:
        raise ValueError("at least one secret signs a delivery")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(sign(s, msg_id, timestamp, body) for s in secrets),
    }


def verify(
    secret: str,
    body: bytes,
    received: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Check a received delivery; raise VerificationError naming what is wrong.

    `received` are the request headers (any case). The timestamp must be within
    `tolerance` seconds of `now` in either direction; a positive tolerance is required.
    """
    if tolerance <= 0:
        raise ValueError("the timestamp tolerance must be positive")
    lowered = {name.lower(): value for name, value in received.items()}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if not lowered.get(name):
            raise VerificationError(f"missing {name} header")
    msg_id = lowered["webhook-id"]
    try:
        timestamp = int(lowered["webhook-timestamp"])
    except ValueError as exc:
        raise VerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise VerificationError("message timestamp too old")
    if timestamp > current + tolerance:
        raise VerificationError("message timestamp too new")
    expected = base64.b64decode(sign(secret, msg_id, timestamp, body).partition(",")[2])
    for entry in lowered["webhook-signature"].split(" "):
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # another scheme (v1a, a future v2): not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise VerificationError("no matching signature")
