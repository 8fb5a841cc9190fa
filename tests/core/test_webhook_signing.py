"""Standard Webhooks signatures: the spec's known-answer vector (W1), round trips checked by
the PyPI `standardwebhooks` library (a verifier we did not write), dual signatures during a
rotation (W16), and the sample verifier's rules (W3)."""

from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.webhooks import signing

KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KAT_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KAT_TIMESTAMP = 1614265330
KAT_BODY = b'{"test": 2432232314}'
KAT_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_known_answer_vector() -> None:
    """W1: the spec's test vector, byte for byte."""
    assert signing.sign(KAT_SECRET, KAT_ID, KAT_TIMESTAMP, KAT_BODY) == KAT_SIGNATURE
    headers = signing.headers([KAT_SECRET], KAT_ID, KAT_TIMESTAMP, KAT_BODY)
    assert headers == {
        "webhook-id": KAT_ID,
        "webhook-timestamp": str(KAT_TIMESTAMP),
        "webhook-signature": KAT_SIGNATURE,
    }
    # The reference library agrees on the same vector.
    stamp = dt.datetime.fromtimestamp(KAT_TIMESTAMP, tz=dt.UTC)
    assert Webhook(KAT_SECRET).sign(KAT_ID, stamp, KAT_BODY.decode()) == KAT_SIGNATURE


def test_new_secrets_are_random_whsec_of_32_bytes() -> None:
    """W16: at least 24 random bytes, `whsec_` + base64, different every time."""
    secrets = {signing.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_reference_library_verifies_our_signatures() -> None:
    secret = signing.new_secret()
    body = '{"type":"comment.approved","data":{"author_name":"Zoë"}}'.encode()
    now = int(time.time())
    headers = signing.headers([secret], "evt_abc", now, body)
    assert Webhook(secret).verify(body, headers)["data"]["author_name"] == "Zoë"
    tampered = body.replace(b"Zo", b"Jo")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_rotation_signs_with_both_secrets() -> None:
    """W16: during the overlap an old-only and a new-only verifier both pass."""
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"type":"comment.approved"}'
    headers = signing.headers([new, old], "evt_rot", int(time.time()), body)
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2 and all(e.startswith("v1,") for e in entries)
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    signing.verify(old, body, headers)
    signing.verify(new, body, headers)
    after = signing.headers([new], "evt_rot", int(time.time()), body)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, after)


def test_ids_with_the_delimiter_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'\.'"):
        signing.sign(KAT_SECRET, "evt.1", KAT_TIMESTAMP, KAT_BODY)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-301, False), (301, False), (-299, True), (299, True), (0, True)],
)
def test_sample_verifier_tolerance_both_ways(offset: int, accepted: bool) -> None:
    """W3: 5 minutes of tolerance, in both directions."""
    now = 1_800_000_000
    headers = signing.headers([KAT_SECRET], KAT_ID, now + offset, KAT_BODY)
    if accepted:
        signing.verify(KAT_SECRET, KAT_BODY, headers, now=now)
    else:
        expected = "too old" if offset < 0 else "too new"
        with pytest.raises(signing.VerificationError, match=expected):
            signing.verify(KAT_SECRET, KAT_BODY, headers, now=now)


def test_sample_verifier_rejects_bad_headers_with_a_reason() -> None:
    """W3: missing header, bad base64, only other schemes, and the multi-signature case."""
    now = KAT_TIMESTAMP
    good = signing.headers([KAT_SECRET], KAT_ID, now, KAT_BODY)
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in good.items() if k != missing}
        with pytest.raises(signing.VerificationError, match=f"missing {missing}"):
            signing.verify(KAT_SECRET, KAT_BODY, partial, now=now)
    with pytest.raises(signing.VerificationError, match="not an integer"):
        signing.verify(KAT_SECRET, KAT_BODY, {**good, "webhook-timestamp": "soon"}, now=now)
    for signature in ("v1,not*base64", "v2," + KAT_SIGNATURE[3:], "v1a,abc="):
        with pytest.raises(signing.VerificationError, match="no matching signature"):
            signing.verify(KAT_SECRET, KAT_BODY, {**good, "webhook-signature": signature}, now=now)
    noisy = f"v2,xyz v1,{base64.b64encode(b'x' * 32).decode()} {KAT_SIGNATURE}"
    signing.verify(KAT_SECRET, KAT_BODY, {**good, "Webhook-Signature": noisy}, now=now)
    with pytest.raises(ValueError, match="positive"):
        signing.verify(KAT_SECRET, KAT_BODY, good, now=now, tolerance=0)
