"""The plugin's own route, which its daily cron calls (the guide's ``/api/inventory-sync/run``)."""

from __future__ import annotations

from typing import Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import JobAnswer
from chalicelib.crons.model import PLATFORM_STORE
from chalicelib.jobs.model import ID_PATTERN, parse_model
from plugins.inventory_sync.jobs.sync_job import SyncPayload

bp = Blueprint(__name__)

FULL_SYNC_TYPE = "plugin:inventory-sync:full"
PLUGIN_ID = "inventory-sync"


class RunRequest(BaseModel):
    """The optional body of ``POST /api/inventory-sync/run`` (its daily cron sends none)."""

    model_config = ConfigDict(extra="forbid")

    storeId: str | None = Field(default=None, pattern=ID_PATTERN)  # noqa: N815 - the guide's spelling
    syncType: Literal["full", "delta"] = "full"  # noqa: N815


@endpoint(
    bp,
    "/inventory-sync/run",
    ["POST"],
    summary="Schedule a full inventory sync (the plugin's daily cron target).",
    body=RunRequest,
    body_required=False,
    response=JobAnswer,
    status=202,
    errors=(403, 429),
)
def run(call: Call) -> Response:
    """Schedule a full sync: for ``storeId`` in the body, else the store of the calling job."""
    body = parse_model(RunRequest, call.optional_json_body())
    store_id = body.storeId or call.request.headers.get("x-tickwork-store-id") or PLATFORM_STORE
    # The store may come from a header: a malformed one is a 400, as in the body.
    payload = parse_model(SyncPayload, {"storeId": store_id, "syncType": body.syncType})
    job = runtime.job_manager.schedule_job(
        type=FULL_SYNC_TYPE,
        payload=payload.model_dump(),
        priority="normal",
        store_id=store_id,
        metadata={"pluginId": PLUGIN_ID, "pluginName": "Inventory Sync"},
        principal=call.principal,
    )
    return ok({"job": job.to_public()}, 202)
