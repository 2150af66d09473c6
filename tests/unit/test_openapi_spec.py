"""The OpenAPI spec against the routes Chalice serves: complete, valid, one error shape, security marked."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate as validate_openapi

import app as app_module
from chalicelib.api.docs import doc_of
from chalicelib.api.openapi import build_spec, undocumented_routes

SPEC = build_spec(app_module.app)

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


# Outside /api: the dashboard's static shell (chalicelib/api/dashboard.py) serves an HTML page,
# its script and its style sheet to browsers. It is not part of the JSON API the spec describes
# (no JSON bodies, no token, no error codes beyond a 404); tests/integration/test_dashboard_routes.py covers it.
NOT_IN_SPEC_MODULES = {"chalicelib.api.dashboard"}


def chalice_operations() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, methods in app_module.app.routes.items() for method in methods}


def spec_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in spec["paths"].items() for method in item if method in METHODS}


def test_every_api_route_chalice_serves_is_in_the_spec_and_nothing_else() -> None:
    in_spec = spec_operations(SPEC)
    outside = {(path, method) for path, method, module in undocumented_routes(app_module.app)}
    # Whatever is not documented must be the dashboard's shell, outside /api; anything else
    # (a new route registered with a bare bp.route, or without @endpoint) fails here.
    stray = [
        (path, method, module)
        for path, method, module in undocumented_routes(app_module.app)
        if module not in NOT_IN_SPEC_MODULES or path.startswith("/api")
    ]
    assert stray == [], f"routes missing from the OpenAPI spec (register them with @endpoint): {stray}"
    assert in_spec == chalice_operations() - outside
    assert ("/api/openapi.json", "GET") in in_spec
    assert all(path.startswith("/api/") for path, _ in in_spec)


def test_every_route_documents_its_success_body_with_a_model() -> None:
    missing = []
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            doc = doc_of(entry.view_function)
            if doc is not None and doc.response is None and not doc.raw_response:
                missing.append(f"{method} {path}")
    assert missing == [], f"give these @endpoint(..., response=<model>): {missing}"


def test_the_spec_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"] == "3.1.0"
    validate_openapi(SPEC)
    ids = [op["operationId"] for item in SPEC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), ids


def test_every_error_answer_uses_the_one_error_shape() -> None:
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for name, response in SPEC["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == error_ref, name
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert response["$ref"].startswith("#/components/responses/"), (method, path, status)
    error = SPEC["components"]["schemas"]["ErrorResponse"]
    assert set(error["required"]) == {"success", "error", "code", "details"}
    assert error["additionalProperties"] is False


def test_protected_routes_need_a_bearer_token_and_public_ones_do_not() -> None:
    assert SPEC["security"] == [{"bearerAuth": []}]
    assert SPEC["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    public = {
        (path, method.upper())
        for path, item in SPEC["paths"].items()
        for method, op in item.items()
        if op.get("security") == []
    }
    assert public == {("/api/health", "GET"), ("/api/openapi.json", "GET")}
    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            assert ("401" in op["responses"]) == ((path, method.upper()) not in public), (method, path)
