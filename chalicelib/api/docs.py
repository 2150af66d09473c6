"""What each route says about itself for the OpenAPI spec: summary, body, query, answers.

Implementation note: ``endpoint`` (http.py) attaches a ``RouteDoc`` to the very function it
hands Chalice, and ``openapi.build_spec`` reads it back from Chalice's own route table. The spec
therefore follows the table Chalice serves (blueprint prefixes, plugin blueprints included) with
no second list of paths to keep in sync; a route registered without ``endpoint`` carries no doc,
and tests/unit/test_openapi_spec.py fails on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

DOC_ATTRIBUTE = "tickwork_route_doc"


@dataclass(frozen=True)
class QueryParam:
    """One query-string parameter: its name, what it does and its JSON schema."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class RouteDoc:
    """A route's documentation, as declared on ``@endpoint``."""

    summary: str
    public: bool
    body: type[BaseModel] | None = None
    # A body the route may go without (a cron's api_call may POST nothing).
    body_required: bool = True
    query: tuple[QueryParam, ...] = ()
    response: type[BaseModel] | None = None
    # Success statuses; the first is the usual one (schedule answers 200 for a repeated key).
    statuses: tuple[int, ...] = (200,)
    # 4xx/5xx beyond the ones every route of its kind has (see openapi.error_statuses).
    errors: tuple[int, ...] = ()
    # The success body is not the {"success": true, ...} envelope (the spec document itself).
    raw_response: bool = False
    view_name: str = ""
    module: str = ""


def attach(handler: Callable[..., Any], doc: RouteDoc) -> None:
    setattr(handler, DOC_ATTRIBUTE, doc)


def doc_of(handler: Callable[..., Any]) -> RouteDoc | None:
    found = getattr(handler, DOC_ATTRIBUTE, None)
    return found if isinstance(found, RouteDoc) else None


# Query parameters several list routes share.
LIMIT = QueryParam(
    "limit", "Page size, 1 to 100 (default 20).", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
)
NEXT_TOKEN = QueryParam("next_token", "The opaque `next_token` of the previous page.")
STORE_ID = QueryParam("store_id", "Only this store's jobs (`storeId` is accepted too).")
PLUGIN_ID = QueryParam("plugin_id", "Only this plugin's jobs (`pluginId` is accepted too).")
