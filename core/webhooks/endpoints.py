"""Webhook endpoints of a site: register, list, change, rotate the secret, disable, delete.

Every change is written to the audit log in the caller's transaction. A URL is checked
by `ssrf.check` whenever it is set. The signing secret is generated here, returned once to
the caller (who shows it once) and stored only encrypted (AES-256-GCM under the service's
current email key, bound to the endpoint's id as associated data). A rotation keeps the
previous secret signing, beside the new one, for a grace period, so receivers can switch
without losing a delivery.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core import audit
from core.access import Principal
from core.errors import InvalidSubmission, WebhookDisabled, WebhookNotFound
from core.events import EVENT_TYPES
from core.privacy import PrivacyVault
from core.webhooks import fanout, signing, ssrf
from models import DeliveryStatus, Site, WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS_PER_SITE = 20
SYSTEM = Principal(actor="system", name="webhooks")


@dataclass(frozen=True)
class UrlCheck:
    """How URLs are checked where this call runs (policy from Settings, a resolver)."""

    policy: ssrf.UrlPolicy
    resolver: ssrf.Resolver = ssrf.system_resolver

    def __call__(self, url: str) -> str:
        ssrf.check(url, self.policy, self.resolver)
        return url


def secret_purpose(endpoint: WebhookEndpoint) -> str:
    """The associated data that binds an endpoint's encrypted secrets to that endpoint."""
    return f"webhook_endpoints.secret|{endpoint.public_id}"


def _valid_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown or not events:
        raise InvalidSubmission(
            "Choose at least one known event.",
            fields={"events": [f"one or more of {', '.join(EVENT_TYPES)}"]},
        )
    return [e for e in EVENT_TYPES if e in set(events)]  # canonical order, no repeats


def create(
    session: Session,
    site: Site,
    principal: Principal,
    *,
    url: str,
    events: Sequence[str],
    description: str,
    check_url: UrlCheck,
    vault: PrivacyVault,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (the only time it is readable)."""
    count = session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.site_id == site.id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_SITE:
        raise InvalidSubmission(
            f"A site can have at most {MAX_ENDPOINTS_PER_SITE} webhook endpoints.",
            fields={"url": ["delete an endpoint first"]},
        )
    endpoint = WebhookEndpoint(
        public_id="ep_" + secrets.token_urlsafe(12),
        site_id=site.id,
        url=check_url(url),
        events=_valid_events(events),
        description=description,
        enabled=True,
    )
    secret = signing.new_secret()
    endpoint.secret_ciphertext, endpoint.secret_key_id = vault.encrypt_secret(
        secret, purpose=secret_purpose(endpoint)
    )
    session.add(endpoint)
    audit.record(
        session,
        principal,
        "webhook.created",
        site_id=site.id,
        detail={"endpoint": endpoint.public_id, "url": endpoint.url, "events": endpoint.events},
    )
    return endpoint, secret


def for_site(session: Session, site_id: int) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.site_id == site_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def get(session: Session, site_id: int, public_id: str) -> WebhookEndpoint:
    """The site's endpoint with this id (WebhookNotFound otherwise)."""
    endpoint = session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.public_id == public_id, WebhookEndpoint.site_id == site_id
        )
    )
    if endpoint is None:
        raise WebhookNotFound("no such webhook endpoint on this site")
    return endpoint


def update_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    principal: Principal,
    changes: dict[str, Any],
    *,
    check_url: UrlCheck,
) -> WebhookEndpoint:
    """Change `url`, `events`, `description` and/or `enabled` (audited)."""
    before = {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}
    if "url" in changes:
        endpoint.url = check_url(changes["url"])
    if "events" in changes:
        endpoint.events = _valid_events(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes and changes["enabled"] != endpoint.enabled:
        if changes["enabled"]:
            enable(endpoint)
        else:
            disable(session, endpoint, "disabled by an administrator")
    after = {"url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled}
    audit.record(
        session,
        principal,
        "webhook.updated",
        site_id=endpoint.site_id,
        before="enabled" if before["enabled"] else "disabled",
        after="enabled" if after["enabled"] else "disabled",
        detail={"endpoint": endpoint.public_id, "before": before, "after": after},
    )
    return endpoint


def enable(endpoint: WebhookEndpoint) -> None:
    """Turn an endpoint back on with a clean failure record."""
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.failing_since = None
    endpoint.paused_until = None


def disable(session: Session, endpoint: WebhookEndpoint, reason: str) -> int:
    """Turn an endpoint off and cancel its pending deliveries (they can be replayed once
    it is enabled again); returns how many were cancelled."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:200]
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.CANCELLED,
            next_attempt_at=None,
            last_error=f"endpoint disabled: {reason}"[:300],
        )
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def remove(session: Session, endpoint: WebhookEndpoint, principal: Principal) -> None:
    """Delete an endpoint with its deliveries and their attempt logs (audited). The events
    themselves stay: they belong to the comments' history."""
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    audit.record(
        session,
        principal,
        "webhook.deleted",
        site_id=endpoint.site_id,
        detail={"endpoint": endpoint.public_id, "url": endpoint.url},
    )
    session.delete(endpoint)


def rotate_secret(
    session: Session,
    endpoint: WebhookEndpoint,
    principal: Principal,
    *,
    now: dt.datetime,
    grace: dt.timedelta,
    vault: PrivacyVault,
) -> str:
    """A new secret (returned once); the current one keeps signing until now + grace.
    A second rotation within the grace period drops the oldest secret."""
    secret = signing.new_secret()
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_key_id = endpoint.secret_key_id
    endpoint.previous_secret_expires_at = now + grace
    endpoint.secret_ciphertext, endpoint.secret_key_id = vault.encrypt_secret(
        secret, purpose=secret_purpose(endpoint)
    )
    audit.record(
        session,
        principal,
        "webhook.secret_rotated",
        site_id=endpoint.site_id,
        detail={
            "endpoint": endpoint.public_id,
            "previous_secret_expires_at": (now + grace).isoformat(),
        },
    )
    return secret


def signing_secrets(
    endpoint: WebhookEndpoint, *, now: dt.datetime, vault: PrivacyVault
) -> tuple[str, ...]:
    """The secrets that sign a delivery now: the current one, then the previous one while
    its grace period lasts."""
    found = [
        vault.decrypt_secret(
            endpoint.secret_ciphertext, endpoint.secret_key_id, purpose=secret_purpose(endpoint)
        )
    ]
    if (
        endpoint.previous_secret_ciphertext is not None
        and endpoint.previous_secret_key_id is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(
            vault.decrypt_secret(
                endpoint.previous_secret_ciphertext,
                endpoint.previous_secret_key_id,
                purpose=secret_purpose(endpoint),
            )
        )
    return tuple(found)


def send_test(
    session: Session, endpoint: WebhookEndpoint, principal: Principal, *, site_key: str
) -> WebhookDelivery:
    """Queue a `webhook.test` delivery to this endpoint (audited)."""
    if not endpoint.enabled:
        raise WebhookDisabled("Enable the endpoint before sending it a test.")
    row = fanout.ping(session, endpoint, site_key)
    audit.record(
        session,
        principal,
        "webhook.test",
        site_id=endpoint.site_id,
        detail={"endpoint": endpoint.public_id, "delivery": row.public_id},
    )
    return row
