"""`GET /api/openapi.json`: the API's OpenAPI document (api/openapi.py), built once per
process from the app's routes and marshmallow schemas."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from api.openapi import build_document

bp = Blueprint("openapi", __name__)

EXTENSION = "replyguard.openapi"


@bp.get("/api/openapi.json", provide_automatic_options=False)
def document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    cached: dict[str, Any] | None = current_app.extensions.get(EXTENSION)
    if cached is None:
        cached = current_app.extensions[EXTENSION] = build_document(current_app)
    response = jsonify(cached)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
