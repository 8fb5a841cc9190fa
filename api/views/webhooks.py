"""The webhooks API (`/api/v1/sites/<site>/webhooks`): register endpoints, list and change
them, rotate their secrets, send a test ping, read the delivery log and replay a delivery.
Admins only (a bearer token from `replyguard tokens create --role admin`, or an admin's
session with its CSRF token); every change is audited.

A URL the SSRF rules refuse answers `422 {"error": "webhook_url_blocked", "reason": ...}`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy.orm import Session

from api.auth import site_for
from api.context import settings, vault
from api.db import get_session
from api.payloads import read_json
from api.webhook_schemas import (
    DeliveryArgsSchema,
    EndpointCreateSchema,
    EndpointUpdateSchema,
    dump_delivery,
    dump_endpoint,
)
from core.access import Principal
from core.webhooks import delivery, endpoints, ssrf
from models import DeliveryStatus, Role, WebhookDelivery, WebhookEndpoint
from models.base import utcnow

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/sites/<site>/webhooks")

# Tests replace the resolver (app.extensions) to check the SSRF rules without DNS.
RESOLVER_EXTENSION = "replyguard.webhook_resolver"


def url_check() -> endpoints.UrlCheck:
    resolver: ssrf.Resolver = current_app.extensions.get(RESOLVER_EXTENSION, ssrf.system_resolver)
    return endpoints.UrlCheck(ssrf.UrlPolicy.from_settings(settings()), resolver)


def _created(body: dict[str, Any], location: str | None = None, status: int = 201) -> Response:
    response = jsonify(body)
    response.status_code = status
    if location:
        response.headers["Location"] = location
    response.headers["Cache-Control"] = "no-store"  # the one answer carrying the secret
    return response


def _one_delivery(session: Session, row: WebhookDelivery) -> dict[str, Any]:
    events = delivery.events_of(session, [row.event_id])
    attempts = delivery.attempts_of(session, [row.id])
    return dump_delivery(row, events.get(row.event_id), attempts[row.id])


@bp.post("")
def create(site: str) -> Response:
    """Register an endpoint: 201 with it and its secret, shown this once."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    data = EndpointCreateSchema().load(read_json())
    endpoint, secret = endpoints.create(
        session,
        site_row,
        principal,
        url=data["url"],
        events=data["events"],
        description=data["description"],
        check_url=url_check(),
        vault=vault(),
    )
    session.commit()
    location = url_for("webhooks.get_one", site=site, endpoint_id=endpoint.public_id)
    return _created({"endpoint": dump_endpoint(endpoint), "secret": secret}, location)


@bp.get("")
def list_all(site: str) -> Response:
    session = get_session(read_only=True)
    site_row, _principal, _role = site_for(session, site, Role.ADMIN)
    return jsonify(
        {"endpoints": [dump_endpoint(e) for e in endpoints.for_site(session, site_row.id)]}
    )


def _endpoint(
    site: str, endpoint_id: str, *, read_only: bool = False
) -> tuple[Session, Principal, WebhookEndpoint]:
    """The request's session, the admin calling, and the site's endpoint (404 if none)."""
    session = get_session(read_only=read_only)
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    return session, principal, endpoints.get(session, site_row.id, endpoint_id)


@bp.get("/<endpoint_id>")
def get_one(site: str, endpoint_id: str) -> Response:
    _session, _principal, endpoint = _endpoint(site, endpoint_id, read_only=True)
    return jsonify({"endpoint": dump_endpoint(endpoint)})


@bp.patch("/<endpoint_id>")
def change(site: str, endpoint_id: str) -> Response:
    """Change the URL, events or description, or enable / disable the endpoint."""
    session, principal, endpoint = _endpoint(site, endpoint_id)
    changes = EndpointUpdateSchema().load(read_json())
    endpoints.update_endpoint(session, endpoint, principal, changes, check_url=url_check())
    session.commit()
    return jsonify({"endpoint": dump_endpoint(endpoint)})


@bp.delete("/<endpoint_id>")
def remove(site: str, endpoint_id: str) -> Response:
    """Delete the endpoint with its delivery log: 204."""
    session, principal, endpoint = _endpoint(site, endpoint_id)
    endpoints.remove(session, endpoint, principal)
    session.commit()
    return Response(status=204)


@bp.post("/<endpoint_id>/rotate-secret")
def rotate_secret(site: str, endpoint_id: str) -> Response:
    """A new secret, shown once; the previous one keeps signing during the grace period."""
    session, principal, endpoint = _endpoint(site, endpoint_id)
    hours = settings().webhook_rotation_grace_hours
    secret = endpoints.rotate_secret(
        session,
        endpoint,
        principal,
        now=utcnow(),
        grace=dt.timedelta(hours=hours),
        vault=vault(),
    )
    session.commit()
    return _created({"endpoint": dump_endpoint(endpoint), "secret": secret}, status=200)


@bp.post("/<endpoint_id>/test")
def test_ping(site: str, endpoint_id: str) -> Response:
    """Send a `webhook.test` event to this endpoint: 202 with the delivery to watch."""
    session, principal, endpoint = _endpoint(site, endpoint_id)
    row = endpoints.send_test(session, endpoint, principal, site_key=site)
    session.commit()
    return _created({"delivery": _one_delivery(session, row)}, status=202)


@bp.get("/<endpoint_id>/deliveries")
def delivery_log(site: str, endpoint_id: str) -> Response:
    """Deliveries newest first, each with its attempts; `status`, `before`, `limit`."""
    session, _principal, endpoint = _endpoint(site, endpoint_id, read_only=True)
    args = DeliveryArgsSchema().load(request.args.to_dict())
    page = delivery.log_page(
        session,
        endpoint,
        status=DeliveryStatus(args["status"]) if args["status"] else None,
        before=args["before"],
        limit=args["limit"],
    )
    return jsonify(
        {
            "deliveries": [
                dump_delivery(row, page.events.get(row.event_id), page.attempts[row.id])
                for row in page.deliveries
            ],
            "next_before": page.next_before,
        }
    )


@bp.get("/<endpoint_id>/deliveries/<delivery_id>")
def delivery_detail(site: str, endpoint_id: str, delivery_id: str) -> Response:
    session, _principal, endpoint = _endpoint(site, endpoint_id, read_only=True)
    row = delivery.get_delivery(session, endpoint, delivery_id)
    return jsonify({"delivery": _one_delivery(session, row)})


@bp.post("/<endpoint_id>/deliveries/<delivery_id>/replay")
def replay(site: str, endpoint_id: str, delivery_id: str) -> Response:
    """Send a delivery again (same webhook-id, fresh timestamp): 202; audited."""
    session, principal, endpoint = _endpoint(site, endpoint_id)
    row = delivery.replay(session, endpoint, delivery_id, principal, now=utcnow())
    session.commit()
    return _created({"delivery": _one_delivery(session, row)}, status=202)
