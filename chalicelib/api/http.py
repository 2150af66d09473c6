"""Request parsing, authentication and the one mapping from errors to HTTP responses."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel

from chalicelib import runtime
from chalicelib.api.docs import QueryParam, RouteDoc, attach
from chalicelib.auth import Principal, principal_from_header
from chalicelib.config import MAX_BODY_BYTES
from chalicelib.errors import BadRequestError, PayloadTooLargeError, TickworkError

logger = logging.getLogger("tickwork.api")

JSON_HEADERS = {"Content-Type": "application/json"}
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
StatusT = TypeVar("StatusT", bound=Enum)
# Objects and arrays nested deeper than this in a request body are refused with a 400.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Call:
    """One authenticated request, as a view sees it."""

    request: Request
    principal: Principal

    def json_body(self) -> dict[str, Any]:
        raw = self.request.raw_body or b""
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"The request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}.")
        if not raw.strip():
            raise BadRequestError("The request needs a JSON object body.", code="missing_body")
        try:
            # NaN and Infinity are not JSON; Python would accept them and store them as null.
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError):
            raise BadRequestError("The request body is not valid JSON.", code="invalid_json") from None
        except RecursionError:
            raise _too_deep() from None
        if not isinstance(body, dict):
            raise BadRequestError("The request body must be a JSON object.", code="invalid_json")
        if _depth(body) > MAX_JSON_DEPTH:
            # pydantic refuses to serialize past ~255 levels: that would be a 500 later.
            raise _too_deep()
        return body

    def optional_json_body(self) -> dict[str, Any]:
        """The body, or {} when there is none (routes a cron's api_call may POST to empty)."""
        return self.json_body() if (self.request.raw_body or b"").strip() else {}

    def query(self, name: str) -> str | None:
        params = self.request.query_params or {}
        if name not in params:
            return None
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if len(values) > 1:
            # Chalice would hand over the last one: ?limit=abc&limit= silently listed 20.
            raise BadRequestError(
                f"{name} is given {len(values)} times; give it once.",
                code="validation_error",
                details=[{"field": name, "message": "given more than once"}],
            )
        value = values[0] if values else None
        return value if value not in (None, "") else None

    def status_query(self, kind: type[StatusT], name: str = "status") -> StatusT | None:
        """The query parameter as one of ``kind``'s values, or None if absent; a 400 naming them if not one."""
        text = self.query(name)
        try:
            return kind(text) if text else None
        except ValueError:
            raise BadRequestError(
                f"{name} must be one of {', '.join(str(member.value) for member in kind)}.",
                code="validation_error",
                details=[{"field": name, "message": "unknown status"}],
            ) from None

    def page_size(self) -> int:
        text = self.query("limit")
        if text is None:
            return DEFAULT_PAGE_SIZE
        try:
            value = int(text)
        except ValueError:
            value = 0
        if not 1 <= value <= MAX_PAGE_SIZE:
            raise BadRequestError(
                f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}.",
                code="validation_error",
                details=[{"field": "limit", "message": f"1..{MAX_PAGE_SIZE}"}],
            )
        return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _too_deep() -> BadRequestError:
    return BadRequestError(
        f"The request body nests deeper than {MAX_JSON_DEPTH} levels.",
        code="validation_error",
        details=[{"field": "(body)", "message": f"nested more than {MAX_JSON_DEPTH} levels"}],
    )


def _depth(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (iterative: no recursion limit)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, level + 1) for child in children)
    return deepest


def error_body(error: TickworkError) -> dict[str, Any]:
    return {"success": False, "error": error.message, "code": error.code, "details": error.details}


def error_response(error: TickworkError) -> Response:
    return Response(body=json.dumps(error_body(error)), status_code=error.status_code, headers=dict(JSON_HEADERS))


def ok(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        body=json.dumps({"success": True, **body}, default=str), status_code=status, headers=dict(JSON_HEADERS)
    )


def endpoint(
    bp: Blueprint,
    path: str,
    methods: list[str],
    *,
    public: bool = False,
    summary: str | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    query: Sequence[QueryParam] = (),
    response: type[BaseModel] | None = None,
    status: int | tuple[int, ...] = 200,
    errors: Sequence[int] = (),
    raw_response: bool = False,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a route whose view takes a ``Call`` and raises ``TickworkError`` for 4xx.

    The keywords after ``public`` document the route for the OpenAPI spec (chalicelib/api/openapi.py):
    ``body`` the request model, ``query`` the query parameters, ``response`` the model of the success
    body, ``status`` its status (or statuses), ``errors`` the error statuses beyond those every
    route of its kind has.
    """

    def decorate(view: Callable[..., Response]) -> Callable[..., Response]:
        doc = RouteDoc(
            summary=summary or (view.__doc__ or view.__name__).strip().splitlines()[0],
            public=public,
            body=body,
            body_required=body_required,
            query=tuple(query),
            response=response,
            statuses=(status,) if isinstance(status, int) else tuple(status),
            errors=tuple(errors),
            raw_response=raw_response,
            view_name=view.__name__,
            module=view.__module__,
        )

        @functools.wraps(view)
        def route(**params: str) -> Response:
            request = bp.current_request
            try:
                principal = None if public else authenticate(request)
                return view(Call(request=request, principal=principal), **params)  # type: ignore[arg-type]
            except TickworkError as error:
                if error.status_code >= 500:
                    logger.error("%s %s: %s", request.method, request.path, error.message)
                return error_response(error)
            except Exception:
                logger.exception("unhandled error on %s %s", request.method, request.path)
                return error_response(TickworkError("An internal error occurred; it has been logged."))

        attach(route, doc)
        bp.route(path, methods=methods, content_types=["application/json"])(route)
        return view

    return decorate


def authenticate(request: Request) -> Principal:
    return principal_from_header(request.headers.get("authorization"), runtime.current().jwt_keys)


# Chalice answers some requests itself (415 for another content type, 405 for a method the
# route lacks, its own BadRequestError) as {"Code", "Message"}: rewrite them into our shape.
CHALICE_CODES = {
    "UnsupportedMediaType": "unsupported_media_type",
    "MethodNotAllowedError": "method_not_allowed",
    "BadRequestError": "bad_request",
    "BadRequest": "bad_request",
    "NotFoundError": "not_found",
    "InternalServerError": "internal_error",
}


def normalize_error_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    response = get_response(event)
    if response.status_code < 400 or not isinstance(response.body, dict):
        return response
    body = response.body
    if "Code" in body and "Message" in body:
        response.body = json.dumps(
            {
                "success": False,
                "error": str(body["Message"]),
                "code": CHALICE_CODES.get(str(body["Code"]), "error"),
                "details": [],
            }
        )
        response.headers["Content-Type"] = "application/json"
    return response
