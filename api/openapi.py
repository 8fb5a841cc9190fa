"""The OpenAPI 3.1 document of the HTTP API (`GET /api/openapi.json`), built with apispec
from the marshmallow schemas the views load and from the app's own url_map, so a path or
a method can never drift from the routing table.

Every operation of the JSON API (public reads and submissions, the moderation API, the
webhooks API), the Akismet-compatible API, `/healthz` and `/embed.js` is listed in
`OPERATIONS` with every status code it can answer. The moderators' web UI and the demo
page (`UI_BLUEPRINTS`) are server-rendered pages for browsers, not an API: they are left
out on purpose and covered by tests/api/test_access_matrix.py instead.
tests/api/test_openapi.py fails when a route is neither documented nor excluded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema, fields
from werkzeug.routing import Rule

from api.moderation_schemas import (
    AuthorMarkRequestSchema,
    BulkRequestSchema,
    DecisionRequestSchema,
    PremoderationRequestSchema,
    QueueArgsSchema,
    ReplyRequestSchema,
)
from api.schemas import SubmissionSchema
from api.webhook_schemas import DeliveryArgsSchema, EndpointCreateSchema, EndpointUpdateSchema

TITLE = "Replyguard API"
VERSION = "1.0.0"
# Server-rendered pages for browsers (HTML forms with CSRF tokens), not part of the API.
UI_BLUEPRINTS = frozenset({"moderation_ui", "moderation_ui_admin", "demo"})
UNDOCUMENTED_ENDPOINTS = frozenset({"static"})
IGNORED_METHODS = frozenset({"HEAD"})


class ErrorSchema(Schema):
    """Every error answer of the JSON API (api/errors.py)."""

    error = fields.String(required=True, metadata={"description": "A stable error code."})
    message = fields.String(required=True)
    field_errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        data_key="fields",
        metadata={"description": "Per-field messages (422)."},
    )
    request_id = fields.String(metadata={"description": "On 5xx answers: the log's request id."})


DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted for moderation; not public until approved",
    204: "No content",
    303: "See other (a browser's form post goes back to the article)",
    304: "Not modified (ETag revalidation)",
    400: "Malformed request (bad JSON, bad parameter)",
    401: "Not authenticated (no, unknown, revoked or expired credentials)",
    403: "Forbidden (origin not allowed, role too low, CSRF token missing)",
    404: "Not found (also: a site the caller has no role on)",
    405: "Method not allowed",
    409: "Conflict (duplicate, already decided, state changed meanwhile)",
    413: "Request body too large",
    415: "Unsupported content type",
    422: "Validation failed: `fields` names each problem",
    429: "Too many requests: see Retry-After",
    503: "Temporarily unavailable (database down): see Retry-After",
}

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html"
TEXT = "text/plain"
ATOM = "application/atom+xml"
JAVASCRIPT = "text/javascript"

# Codes every operation of a kind can answer (besides its success codes).
DATABASE = frozenset({503})
PUBLIC_READ = DATABASE | {400, 404, 422}
PUBLIC_WRITE = PUBLIC_READ | {403, 409, 413, 415, 429}
MODERATION_READ = DATABASE | {400, 401, 403, 404, 422}
MODERATION_WRITE = MODERATION_READ | {409, 413, 415}


@dataclass(frozen=True)
class Op:
    """One documented operation: its success codes (and their content types), the error
    codes it can answer, and what it reads."""

    success: Mapping[int, tuple[str, ...]]
    errors: frozenset[int]
    tag: str
    body: type[Schema] | dict[str, Any] | None = None
    body_types: tuple[str, ...] = (JSON,)
    query: type[Schema] | None = None
    query_params: tuple[dict[str, Any], ...] = ()
    auth: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


# Values of free-form bodies: scalars or flat lists (what settings and form fields hold).
ANY_VALUE: dict[str, Any] = {
    "type": ["string", "integer", "number", "boolean", "null", "array"],
    "items": {"type": ["string", "integer", "number", "boolean"]},
}
FREE_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": ANY_VALUE}
AKISMET_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string"},
        "blog": {"type": "string"},
        "user_ip": {"type": "string"},
        "comment_content": {"type": "string"},
        "comment_author": {"type": "string"},
        "comment_author_email": {"type": "string"},
    },
    "additionalProperties": {"type": "string"},
}
INT_ARG = {"type": "integer"}
EMAIL_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["email"],
    "properties": {"email": {"type": "string"}},
    "additionalProperties": ANY_VALUE,
}
OK_JSON: Mapping[int, tuple[str, ...]] = {200: (JSON,)}
AKISMET = Op(
    success={200: (TEXT,)},
    errors=frozenset({400, 413, 503}),
    tag="akismet",
    body=AKISMET_FORM,
    body_types=(FORM,),
)

OPERATIONS: dict[tuple[str, str], Op] = {
    # -- public ---------------------------------------------------------------------------
    ("comments.submit_comment", "POST"): Op(
        success={202: (JSON, HTML), 303: ()},
        errors=PUBLIC_WRITE,
        tag="public",
        body=SubmissionSchema,
        body_types=(JSON, FORM),
    ),
    ("comments.comment_status", "GET"): Op(OK_JSON, PUBLIC_READ, "public"),
    # 405: an id out of range matches no route for OPTIONS.
    ("comments.preflight", "OPTIONS"): Op({204: ()}, PUBLIC_READ | {403, 405}, "public"),
    ("threads.thread_comments", "GET"): Op(
        {200: (JSON,), 304: ()},
        PUBLIC_READ,
        "public",
        query_params=(_q("after", INT_ARG), _q("limit", INT_ARG)),
    ),
    ("threads.thread_fragment", "GET"): Op(
        {200: (HTML,), 304: ()},
        PUBLIC_READ,
        "public",
        query_params=(_q("after", INT_ARG), _q("limit", INT_ARG)),
    ),
    ("threads.thread_feed_view", "GET"): Op({200: (ATOM,), 304: ()}, PUBLIC_READ, "public"),
    ("threads.counts", "GET"): Op(
        {200: (JSON,), 304: ()},
        PUBLIC_READ,
        "public",
        query_params=(_q("thread", {"type": "array", "items": {"type": "string"}}, "Thread keys"),),
    ),
    ("threads.form_token", "GET"): Op(
        OK_JSON, PUBLIC_READ | {403}, "public", query_params=(_q("thread", {"type": "string"}),)
    ),
    ("embed.script", "GET"): Op({200: (JAVASCRIPT,), 304: ()}, frozenset(), "public"),
    ("health.healthz", "GET"): Op(OK_JSON, DATABASE, "operations"),
    ("openapi.document", "GET"): Op(OK_JSON, frozenset(), "operations"),
    # -- moderation API -----------------------------------------------------------------
    ("moderation_api.list_queue", "GET"): Op(
        OK_JSON, MODERATION_READ, "moderation", query=QueueArgsSchema, auth=True
    ),
    ("moderation_api.comment_detail", "GET"): Op(OK_JSON, MODERATION_READ, "moderation", auth=True),
    ("moderation_api.decide", "POST"): Op(
        OK_JSON, MODERATION_WRITE, "moderation", body=DecisionRequestSchema, auth=True
    ),
    ("moderation_api.bulk", "POST"): Op(
        OK_JSON, MODERATION_WRITE, "moderation", body=BulkRequestSchema, auth=True
    ),
    ("moderation_api.reply", "POST"): Op(
        {201: (JSON,)}, MODERATION_WRITE, "moderation", body=ReplyRequestSchema, auth=True
    ),
    ("moderation_api.mark_author", "POST"): Op(
        OK_JSON, MODERATION_WRITE, "moderation", body=AuthorMarkRequestSchema, auth=True
    ),
    ("moderation_api.reveal_email", "POST"): Op(OK_JSON, MODERATION_WRITE, "moderation", auth=True),
    ("moderation_api.author_view", "GET"): Op(OK_JSON, MODERATION_READ, "moderation", auth=True),
    ("moderation_api.audit_log", "GET"): Op(
        OK_JSON,
        MODERATION_READ,
        "moderation",
        query_params=(_q("before", INT_ARG), _q("comment", INT_ARG), _q("limit", INT_ARG)),
        auth=True,
    ),
    ("moderation_api.site_stats", "GET"): Op(
        OK_JSON, MODERATION_READ, "moderation", query_params=(_q("days", INT_ARG),), auth=True
    ),
    ("moderation_api.get_settings", "GET"): Op(OK_JSON, MODERATION_READ, "moderation", auth=True),
    ("moderation_api.change_settings", "PUT"): Op(
        OK_JSON, MODERATION_WRITE, "moderation", body=FREE_OBJECT, auth=True
    ),
    ("moderation_api.change_settings", "PATCH"): Op(
        OK_JSON, MODERATION_WRITE, "moderation", body=FREE_OBJECT, auth=True
    ),
    ("moderation_api.thread_premoderation", "PUT"): Op(
        OK_JSON, MODERATION_WRITE, "moderation", body=PremoderationRequestSchema, auth=True
    ),
    # -- webhooks (admins) --------------------------------------------------------------
    ("webhooks.create", "POST"): Op(
        {201: (JSON,)}, MODERATION_WRITE, "webhooks", body=EndpointCreateSchema, auth=True
    ),
    ("webhooks.list_all", "GET"): Op(OK_JSON, MODERATION_READ, "webhooks", auth=True),
    ("webhooks.get_one", "GET"): Op(OK_JSON, MODERATION_READ, "webhooks", auth=True),
    ("webhooks.change", "PATCH"): Op(
        OK_JSON, MODERATION_WRITE, "webhooks", body=EndpointUpdateSchema, auth=True
    ),
    ("webhooks.remove", "DELETE"): Op({204: ()}, MODERATION_WRITE, "webhooks", auth=True),
    ("webhooks.rotate_secret", "POST"): Op(OK_JSON, MODERATION_WRITE, "webhooks", auth=True),
    ("webhooks.test_ping", "POST"): Op(
        {200: (JSON,), 202: (JSON,)}, MODERATION_WRITE, "webhooks", auth=True
    ),
    ("webhooks.delivery_log", "GET"): Op(
        OK_JSON, MODERATION_READ, "webhooks", query=DeliveryArgsSchema, auth=True
    ),
    ("webhooks.delivery_detail", "GET"): Op(OK_JSON, MODERATION_READ, "webhooks", auth=True),
    ("webhooks.replay", "POST"): Op(
        {200: (JSON,), 202: (JSON,)}, MODERATION_WRITE, "webhooks", auth=True
    ),
    # -- privacy requests (admins; api/views/privacy.py) --------------------------------
    ("privacy_api.export", "POST"): Op(
        OK_JSON, MODERATION_WRITE, "privacy", body=EMAIL_REQUEST, auth=True
    ),
    ("privacy_api.erase", "POST"): Op(
        OK_JSON, MODERATION_WRITE, "privacy", body=EMAIL_REQUEST, auth=True
    ),
    # -- Akismet-compatible API -----------------------------------------------------------
    ("akismet.verify_key", "POST"): AKISMET,
    ("akismet.comment_check", "POST"): AKISMET,
    ("akismet.submit_spam", "POST"): AKISMET,
    ("akismet.submit_ham", "POST"): AKISMET,
}

_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def is_documented_route(rule: Rule) -> bool:
    """Whether the document must describe this rule (UI pages and static files are not)."""
    blueprint = rule.endpoint.rpartition(".")[0]
    return blueprint not in UI_BLUEPRINTS and rule.endpoint not in UNDOCUMENTED_ENDPOINTS


def route_operations(app: Flask) -> Iterator[tuple[Rule, str]]:
    """Every (rule, method) the document must describe."""
    for rule in app.url_map.iter_rules():
        if not is_documented_route(rule):
            continue
        methods = set(rule.methods or ()) - IGNORED_METHODS
        # Flask's automatic OPTIONS answers are not operations; explicit ones are.
        if rule.endpoint != "comments.preflight":
            methods.discard("OPTIONS")
        for method in sorted(methods):
            yield rule, method


def missing_operations(app: Flask) -> list[str]:
    """Routes of the app that OPERATIONS does not describe (the test wants none)."""
    return [
        f"{method} {rule.rule} ({rule.endpoint})"
        for rule, method in route_operations(app)
        if (rule.endpoint, method) not in OPERATIONS
    ]


def openapi_path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """`/sites/<site>/comments/<int:comment_id>` → `/sites/{site}/comments/{comment_id}`
    with its path parameters."""
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        name, conv = match["name"], match["conv"]
        schema: dict[str, Any] = {"type": "string", "minLength": 1}
        if conv == "int":
            schema = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
        elif conv != "path":
            schema["pattern"] = "^[^/]+$"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, rule.rule), params


def _summary(app: Flask, endpoint: str) -> tuple[str, str]:
    doc = (app.view_functions[endpoint].__doc__ or endpoint).strip()
    first, _, rest = doc.partition("\n")
    return first.strip(), " ".join(line.strip() for line in rest.splitlines()).strip()


def _operation(app: Flask, rule: Rule, method: str, op: Op) -> dict[str, Any]:
    summary, description = _summary(app, rule.endpoint)
    _path, params = openapi_path(rule)
    responses: dict[str, Any] = {}
    for code, types in sorted(op.success.items()):
        entry: dict[str, Any] = {"description": DESCRIPTIONS[code]}
        if types:
            entry["content"] = {t: {"schema": {}} for t in types}
        responses[str(code)] = entry
    for code in sorted(op.errors):
        entry = {"description": DESCRIPTIONS[code]}
        if op.tag != "akismet":
            entry["content"] = {JSON: {"schema": "Error"}}
        if code in (429, 503):
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        responses[str(code)] = entry
    operation: dict[str, Any] = {
        "operationId": f"{rule.endpoint}.{method.lower()}",
        "summary": summary,
        "tags": [op.tag],
        "parameters": params + list(op.query_params),
        "responses": responses,
    }
    if description:
        operation["description"] = description
    if op.query is not None:
        operation["parameters"].append({"in": "query", "schema": op.query})
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {t: {"schema": op.body} for t in op.body_types},
        }
    if op.auth:
        operation["security"] = [{"bearerAuth": []}, {"sessionCookie": []}]
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of `app` (routes OPERATIONS does not describe are skipped;
    tests/api/test_openapi.py makes sure there are none)."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Comment submission, public reads, moderation and webhooks. "
            'Errors are JSON: `{"error": code, "message": ..., "fields": {...}}`.'
        },
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "sessionCookie", {"type": "apiKey", "in": "cookie", "name": "rg_session"}
    )
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict[str, Any]] = {}
    for rule, method in route_operations(app):
        op = OPERATIONS.get((rule.endpoint, method))
        if op is None:
            continue
        path, _params = openapi_path(rule)
        paths.setdefault(path, {})[method.lower()] = _operation(app, rule, method, op)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()
