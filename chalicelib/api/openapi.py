"""The OpenAPI 3.1 document of the HTTP API, generated from Chalice's route table and the models.

Nothing here lists a path or a field by hand: paths, methods and path parameters come from the
app's own route table (``app.routes``: blueprint prefixes and plugin blueprints as mounted), what
each route takes and answers from the ``RouteDoc`` that ``@endpoint`` attached to it
(chalicelib/api/docs.py), and every schema from a pydantic model (request models as validated,
response models from chalicelib/api/schemas.py as serialized).

``GET /api/openapi.json`` is public: the document holds no data, only the shape of the API that
docs/api.md and docs/plugin-guide.md already publish, and a client (or a code generator, or a fuzzer)
needs it before it has a token.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Literal

from chalice import Blueprint, Chalice, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.docs import RouteDoc, doc_of
from chalicelib.api.http import JSON_HEADERS, Call, endpoint
from chalicelib.api.schemas import ErrorResponse

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_RESPONSES = {
    400: ("BadRequest", "The request is malformed or fails validation; `details` names each field."),
    401: ("Unauthorized", "No token, or a token that is expired, forged or unsigned."),
    403: ("Forbidden", "A valid token that may not do this (a foreign store, an admin-only job type)."),
    404: ("NotFound", "No such thing, or it belongs to another tenant."),
    409: ("Conflict", "The thing's current state forbids this (e.g. cancelling a finished job)."),
    413: ("PayloadTooLarge", "The body, payload or configuration is over its size limit."),
    415: ("UnsupportedMediaType", "A Content-Type other than application/json."),
    429: ("TooManyRequests", "A quota is used up (cron jobs per store, jobs per minute)."),
}
SUCCESS_DESCRIPTIONS = {200: "OK.", 201: "Created.", 202: "Accepted: the job is queued."}

_cache: dict[int, dict[str, Any]] = {}
_cache_lock = threading.Lock()


def error_statuses(doc: RouteDoc, *, has_path_params: bool) -> list[int]:
    """The error statuses a route can answer: those of its kind, plus what it declares."""
    codes = set(doc.errors)
    codes.add(415)  # Chalice refuses any request whose Content-Type is not JSON
    if not doc.public:
        codes.add(401)
    if doc.body is not None or doc.query:
        codes.add(400)
    if doc.body is not None:
        codes.add(413)
    if has_path_params:
        codes.add(404)
    return sorted(codes)


def documented_routes(app: Chalice) -> list[tuple[str, str, RouteDoc]]:
    """(path, method, doc) for each route of ``app`` that carries a RouteDoc, in table order."""
    found = []
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            doc = doc_of(entry.view_function)
            if doc is not None:
                found.append((path, method, doc))
    return found


def undocumented_routes(app: Chalice) -> list[tuple[str, str, str]]:
    """(path, method, module) for each route registered without ``@endpoint``."""
    return [
        (path, method, entry.view_function.__module__)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if doc_of(entry.view_function) is None
    ]


def _component_schemas(docs: list[RouteDoc]) -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    """One JSON schema per model, nested models and enums hoisted into components."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [(ErrorResponse, "serialization")]
    for doc in docs:
        if doc.body is not None:
            wanted.append((doc.body, "validation"))
        if doc.response is not None:
            wanted.append((doc.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=REF_TEMPLATE)
    return refs, top.get("$defs", {})  # type: ignore[return-value]


def _operation(path: str, method: str, doc: RouteDoc, refs: dict[tuple[type[BaseModel], str], Any]) -> dict[str, Any]:
    path_params = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    operation: dict[str, Any] = {
        "operationId": f"{doc.module.rsplit('.', 1)[-1]}_{doc.view_name}",
        "summary": doc.summary,
        "tags": [_tag(path)],
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in path_params
    ]
    # Call.query reads an empty value as not given (?status= lists every status): say so.
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": f"{q.description} Empty means not given.",
            "schema": q.schema,
            "allowEmptyValue": True,
        }
        for q in doc.query
    ]
    if parameters:
        operation["parameters"] = parameters
    if doc.body is not None:
        operation["requestBody"] = {
            "required": doc.body_required,
            "content": {"application/json": {"schema": refs[(doc.body, "validation")]}},
        }
    if doc.public:
        operation["security"] = []
    responses: dict[str, Any] = {}
    for status in doc.statuses:
        schema = {"type": "object"} if doc.response is None else refs[(doc.response, "serialization")]
        responses[str(status)] = {
            "description": SUCCESS_DESCRIPTIONS.get(status, "Success."),
            "content": {"application/json": {"schema": schema}},
        }
    for status in error_statuses(doc, has_path_params=bool(path_params)):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    operation["responses"] = responses
    return operation


def _tag(path: str) -> str:
    parts = [part for part in path.split("/") if part and part != "api"]
    return parts[0] if parts and not parts[0].startswith("{") else "meta"


def build_spec(app: Chalice) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of ``app`` registered through ``@endpoint``."""
    routes = documented_routes(app)
    refs, schemas = _component_schemas([doc for _, _, doc in routes])
    paths: dict[str, dict[str, Any]] = {}
    for path, method, doc in routes:
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, doc, refs)
    error_ref = refs[(ErrorResponse, "serialization")]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "tickwork",
            "version": API_VERSION,
            "description": (
                "Cron jobs and background jobs for e-commerce plugins. Every success answer is "
                '`{"success": true, ...}`; every error `{"success": false, "error", "code", "details"}`. '
                "Background-job bodies accept camelCase spellings (`storeId`, `maxRetries`) as well as "
                "the snake_case shown here."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 JWT with sub, role (admin | store_owner | plugin), stores, plugin_id.",
                }
            },
            "responses": {
                name: {"description": description, "content": {"application/json": {"schema": error_ref}}}
                for name, description in ERROR_RESPONSES.values()
            },
        },
    }


def spec_for(app: Chalice) -> dict[str, Any]:
    """``build_spec(app)``, built once per container: routes do not change after start-up."""
    with _cache_lock:
        if id(app) not in _cache:
            _cache[id(app)] = build_spec(app)
        return _cache[id(app)]


bp = Blueprint(__name__)


@endpoint(bp, "/openapi.json", ["GET"], public=True, summary="This OpenAPI 3.1 document.", raw_response=True)
def openapi_document(call: Call) -> Response:
    return Response(body=json.dumps(spec_for(bp.current_app)), status_code=200, headers=dict(JSON_HEADERS))
