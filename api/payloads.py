"""Request bodies: the one way views read a JSON object (400 when malformed, 415 for another
content type), so every endpoint answers bad input with the same errors."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from api.errors import ApiError


def parse_json_object() -> dict[str, Any]:
    """The body as a JSON object; ApiError 400 `malformed_json` when it is not one."""
    try:
        payload = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", "The request body is not valid JSON.") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed_json", "The request body must be a JSON object.")
    return payload


def read_json() -> dict[str, Any]:
    """A JSON object body; 415 `unsupported_media_type` for any other content type."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send application/json.")
    return parse_json_object()


def db_int(value: str) -> int:
    """A query or form integer that a BIGINT column can hold. Used as werkzeug's `type=`,
    whose convention is that a ValueError makes the argument count as absent: an id beyond
    64 bits can match nothing, and must not reach the database driver (a 500)."""
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError("out of the 64-bit range")
    return number
