"""The guide's ``/api/my-plugin/sync``: the route its api_call cron example calls."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import JobAnswer
from chalicelib.jobs.model import ID_PATTERN, parse_model
from plugins.my_plugin.jobs.import_job import MAX_ITEMS

bp = Blueprint(__name__)

IMPORT_TYPE = "plugin:my-plugin:import"
PLUGIN_ID = "my-plugin"


class SyncRequest(BaseModel):
    """The optional body of ``POST /api/my-plugin/sync`` (a cron's api_call may send none)."""

    model_config = ConfigDict(extra="forbid")

    storeId: str | None = Field(default=None, pattern=ID_PATTERN)  # noqa: N815 - the guide's spelling
    source: str = Field(default="external-api", max_length=256)
    count: int = Field(default=0, ge=0, le=MAX_ITEMS)


@endpoint(
    bp,
    "/my-plugin/sync",
    ["POST"],
    summary="Start an import for a store (the guide's api_call cron target).",
    body=SyncRequest,
    body_required=False,
    response=JobAnswer,
    status=202,
    errors=(403, 429),
)
def sync(call: Call) -> Response:
    """Start an import for a store: ``storeId`` in the body, else the calling job's store."""
    body = parse_model(SyncRequest, call.optional_json_body())
    store_id = body.storeId or call.request.headers.get("x-tickwork-store-id")
    if not store_id and len(call.principal.stores) == 1:
        store_id = next(iter(call.principal.stores))
    job = runtime.job_manager.schedule_job(
        type=IMPORT_TYPE,
        payload={"source": body.source, "count": body.count},
        store_id=store_id or "",
        metadata={"pluginId": PLUGIN_ID, "description": "sync requested through /api/my-plugin/sync"},
        principal=call.principal,
    )
    return ok({"job": job.to_public()}, 202)
