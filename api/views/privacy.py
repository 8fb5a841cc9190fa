"""GDPR requests for a site's admins (`/api/v1/sites/<site>/privacy/...`, docs/privacy.md).

`POST .../privacy/export` and `POST .../privacy/erase` take `{"email": ...}`: the address
is in the body (never in a URL, so never in an access log), is used only to compute its
blind index, and is never echoed in an answer. Both need the admin role on the site, are
audited (without the address) and answer `Cache-Control: no-store`.

Export is paginated (`cursor`, `limit` ≤ 500, a `done` flag); erase works in committed
batches of 500 until done or until its time budget is spent (`done: false`: call again,
it continues where it stopped; a call after `done: true` erases 0).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from api.auth import site_for
from api.context import vault
from api.db import get_session
from api.payloads import read_json
from core import gdpr
from models import Role

bp = Blueprint("privacy_api", __name__, url_prefix="/api/v1/sites/<site>/privacy")

# An erase request stops starting new batches after this long, and answers `done: false`.
ERASE_BUDGET_SECONDS = 10.0


class _EmailRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    # Only looked up, never stored: a lenient shape check, so that an address the submit
    # form once accepted can always be found again. Messages never repeat the value.
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))

    @validates("email")
    def _looks_like_an_address(self, value: str, **_kwargs: Any) -> None:
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or not domain:
            raise ValidationError("Not a valid email address.")


class ExportRequestSchema(_EmailRequestSchema):
    """`{"email": ..., "cursor": <id>?, "limit": 1..500?}`."""

    cursor = fields.Integer(load_default=None, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=gdpr.BATCH_SIZE, validate=validate.Range(1, 500))


class EraseRequestSchema(_EmailRequestSchema):
    """`{"email": ...}`."""


def _no_store(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/export")
def export(site: str) -> Response:
    """One page of every comment of that email on the site (any status), oldest first."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    data = ExportRequestSchema().load(read_json())
    page = gdpr.export_page(
        session,
        site_row.id,
        data["email"],
        vault=vault(),
        after_id=data["cursor"],
        limit=data["limit"],
    )
    gdpr.record_export(session, site_row.id, principal, count=len(page.items))
    session.commit()  # no export that is not on record
    return _no_store(
        {
            "site": site,
            "comments": page.items,
            "count": len(page.items),
            "next_cursor": page.next_cursor,
            "done": page.done,
        }
    )


@bp.post("/erase")
def erase(site: str) -> Response:
    """Anonymise every comment of that email on the site, batch by batch (each committed)."""
    session = get_session()
    site_row, principal, _role = site_for(session, site, Role.ADMIN)
    data = EraseRequestSchema().load(read_json())
    started = time.monotonic()
    erased = batches = 0
    done = False
    audit_id: int | None = None
    for batch in gdpr.erase_batches(session, site_row.id, data["email"], principal, vault=vault()):
        session.commit()
        erased += len(batch.comment_ids)
        batches += 1
        done, audit_id = batch.done, batch.audit_id
        if time.monotonic() - started > ERASE_BUDGET_SECONDS:
            break
    return _no_store(
        {"site": site, "erased": erased, "batches": batches, "done": done, "audit_id": audit_id}
    )
