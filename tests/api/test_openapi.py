"""`GET /api/openapi.json`: a valid OpenAPI 3.1 document listing every route of the API with
its status codes; a route that is neither documented nor deliberately left out fails here."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from api.openapi import (
    OPERATIONS,
    UI_BLUEPRINTS,
    missing_operations,
    openapi_path,
    route_operations,
)


def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()
    return body


def test_every_route_is_documented(app: Flask) -> None:
    assert missing_operations(app) == [], "document these in api/openapi.py OPERATIONS"
    routed = {(rule.endpoint, method) for rule, method in route_operations(app)}
    assert set(OPERATIONS) - routed == set(), "OPERATIONS lists routes that no longer exist"


def test_document_matches_the_url_map(app: Flask, client: FlaskClient) -> None:
    doc = document(client)
    assert doc["openapi"].startswith("3.1")
    for rule, method in route_operations(app):
        path, params = openapi_path(rule)
        operation = doc["paths"][path][method.lower()]
        assert {p["name"] for p in params} <= {p.get("name") for p in operation["parameters"]}
        codes = set(operation["responses"])
        assert codes, f"{method} {path} has no responses"
        if OPERATIONS[(rule.endpoint, method)].auth:
            assert {"401", "403", "404"} <= codes, f"{method} {path}"
            assert operation["security"]


def test_submission_documents_limits_and_its_schema(client: FlaskClient) -> None:
    doc = document(client)
    submit = doc["paths"]["/api/v1/sites/{site}/comments"]["post"]
    assert {"202", "303", "403", "413", "415", "422", "429"} <= set(submit["responses"])
    assert "Retry-After" in submit["responses"]["429"]["headers"]
    schema = doc["components"]["schemas"]["Submission"]
    assert set(schema["required"]) == {"thread", "comment", "name", "email"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["name"]["maxLength"] == 245


def test_ui_pages_are_left_out_on_purpose(app: Flask, client: FlaskClient) -> None:
    paths = document(client)["paths"]
    assert not [p for p in paths if p.startswith("/moderation")]
    assert {bp for bp in app.blueprints} >= UI_BLUEPRINTS
