"""Endpoints: secrets at rest and rotation (W16), disabling after five days of failures and
the reset a success brings (W8), and the delete that takes the delivery log with it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.config import Settings
from core.errors import InvalidSubmission, WebhookUrlBlocked
from core.privacy import PrivacyVault, SecretDecryptionError
from core.webhooks import endpoints, signing, ssrf
from models import AuditEntry, DeliveryStatus, Site, WebhookAttempt, WebhookDelivery
from models.base import utcnow
from tests.core.test_webhook_delivery import (
    ADMIN,
    LOOPBACK_OK,
    deliveries_of,
    register,
    run,
)
from tests.support.moderation import decided
from tests.support.webhooks import Receiver, Reply


def test_secret_is_shown_once_and_stored_encrypted(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    """W16: ≥ 24 random bytes, different per endpoint, only ciphertext in the row, bound
    to its endpoint (a ciphertext copied to another endpoint does not decrypt)."""
    first, secret_a = register(session, site, vault, "http://127.0.0.1:9/a")
    second, secret_b = register(session, site, vault, "http://127.0.0.1:9/b")
    assert secret_a != secret_b
    assert len(signing.secret_key(secret_a)) >= 24
    for endpoint, secret in ((first, secret_a), (second, secret_b)):
        stored = endpoint.secret_ciphertext
        assert secret.encode() not in stored
        assert signing.secret_key(secret) not in stored
        assert endpoints.signing_secrets(endpoint, now=utcnow(), vault=vault) == (secret,)
    with pytest.raises(SecretDecryptionError):
        vault.decrypt_secret(
            first.secret_ciphertext,
            first.secret_key_id,
            purpose=f"webhook_endpoints.secret|{second.public_id}",
        )
    created = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.created"))
    assert created is not None and secret_a not in str(created.detail)


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    """W16: during the overlap an old-only and a new-only receiver both verify; after it,
    only the new secret signs."""
    with Receiver() as receiver:
        endpoint, old = register(session, site, vault, receiver.url())
        now = utcnow()
        new = endpoints.rotate_secret(
            session, endpoint, ADMIN, now=now, grace=dt.timedelta(hours=24), vault=vault
        )
        session.commit()
        assert new != old
        assert endpoints.signing_secrets(endpoint, now=now, vault=vault) == (new, old)
        later = now + dt.timedelta(hours=25)
        assert endpoints.signing_secrets(endpoint, now=later, vault=vault) == (new,)
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        run(session, vault, row)  # within the grace period
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    after = signing.headers(
        endpoints.signing_secrets(endpoint, now=later, vault=vault),
        "evt_x",
        int(utcnow().timestamp()),
        request.body,
    )
    Webhook(new).verify(request.body, after)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, after)
    rotated = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "webhook.secret_rotated")
    )
    assert rotated is not None and new not in str(rotated.detail) and old not in str(rotated.detail)


@pytest.mark.parametrize("recovers_on_day_3", [False, True], ids=["failing", "recovers"])
def test_five_days_of_failures_disable_the_endpoint(
    recovers_on_day_3: bool,
    session: Session,
    site: Site,
    vault: PrivacyVault,
    settings: Settings,
) -> None:
    """W8: an endpoint whose attempts all fail for 120 h is disabled (audited); one success
    on day 3 resets the clock, so it is still enabled on day 5."""
    day = dt.timedelta(days=1)
    script = [Reply(500), Reply(200) if recovers_on_day_3 else Reply(500), Reply(500)]
    with Receiver(script) as receiver:
        endpoint, _ = register(session, site, vault, receiver.url())
        t0 = utcnow() + dt.timedelta(seconds=30)  # after the first delivery is written
        for offset in (dt.timedelta(0), 3 * day, 5 * day + dt.timedelta(minutes=1)):
            decided(session, site, vault, settings)
            row = deliveries_of(session, endpoint)[-1]
            run(session, vault, row, t0 + offset)
    assert len(receiver.requests) == 3
    if recovers_on_day_3:
        assert endpoint.enabled
        assert endpoint.failing_since == t0 + 5 * day + dt.timedelta(minutes=1)
    else:
        assert not endpoint.enabled
        assert endpoint.disabled_reason == "every attempt failed for 120 hours"
        pending = [
            r for r in deliveries_of(session, endpoint) if r.status is DeliveryStatus.PENDING
        ]
        assert pending == []
        assert (
            session.scalar(select(func.count()).where(AuditEntry.action == "webhook.disabled")) == 1
        )


def test_enabling_again_clears_the_failure_record(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    endpoint, _ = register(session, site, vault, "http://127.0.0.1:9/")
    endpoint.failing_since = utcnow()
    endpoints.disable(session, endpoint, "the receiver answered 410 Gone")
    endpoints.update_endpoint(
        session, endpoint, ADMIN, {"enabled": True}, check_url=endpoints.UrlCheck(LOOPBACK_OK)
    )
    assert endpoint.enabled and endpoint.disabled_reason is None
    assert endpoint.failing_since is None and endpoint.paused_until is None


def test_changes_are_checked_like_registrations(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    endpoint, _ = register(session, site, vault, "http://127.0.0.1:9/")
    strict = endpoints.UrlCheck(ssrf.UrlPolicy())
    with pytest.raises(WebhookUrlBlocked):
        endpoints.update_endpoint(
            session, endpoint, ADMIN, {"url": "http://10.0.0.7/"}, check_url=strict
        )
    with pytest.raises(InvalidSubmission):
        endpoints.update_endpoint(
            session, endpoint, ADMIN, {"events": ["comment.eaten"]}, check_url=strict
        )
    with pytest.raises(InvalidSubmission):
        endpoints.update_endpoint(session, endpoint, ADMIN, {"events": []}, check_url=strict)


def test_deleting_an_endpoint_removes_its_log(
    session: Session, site: Site, vault: PrivacyVault, settings: Settings
) -> None:
    with Receiver() as receiver:
        endpoint, _ = register(session, site, vault, receiver.url())
        decided(session, site, vault, settings)
        (row,) = deliveries_of(session, endpoint)
        run(session, vault, row)
    endpoints.remove(session, endpoint, ADMIN)
    session.commit()
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert session.scalar(select(func.count()).select_from(WebhookAttempt)) == 0
    deleted = session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.deleted"))
    assert deleted is not None


def test_a_site_has_at_most_twenty_endpoints(
    session: Session, site: Site, vault: PrivacyVault
) -> None:
    for n in range(endpoints.MAX_ENDPOINTS_PER_SITE):
        register(session, site, vault, f"http://127.0.0.1:9/{n}")
    with pytest.raises(InvalidSubmission):
        register(session, site, vault, "http://127.0.0.1:9/one-too-many")
