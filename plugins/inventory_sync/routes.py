"""The plugin's own route, which its daily cron calls (the guide's ``/api/inventory-sync/run``)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.crons.models import PLATFORM_STORE
from plugins.inventory_sync.jobs.sync_job import SyncPayload

bp = Blueprint(__name__)

FULL_SYNC_TYPE = "plugin:inventory-sync:full"
PLUGIN_ID = "inventory-sync"


@endpoint(bp, "/inventory-sync/run", ["POST"])
def run(call: Call) -> Response:
    """Schedule a full sync: for ``storeId`` in the body, else the store of the calling job."""
    body = call.optional_json_body()
    store_id = body.get("storeId") or call.request.headers.get("x-tickwork-store-id") or PLATFORM_STORE
    payload = SyncPayload.model_validate({"storeId": store_id, "syncType": body.get("syncType", "full")})
    job = runtime.job_manager.schedule_job(
        type=FULL_SYNC_TYPE,
        payload=payload.model_dump(),
        priority="normal",
        store_id=store_id,
        metadata={"pluginId": PLUGIN_ID, "pluginName": "Inventory Sync"},
        principal=call.principal,
    )
    return ok({"job": job.to_public()}, 202)
