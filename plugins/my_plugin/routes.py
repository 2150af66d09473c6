"""The guide's ``/api/my-plugin/sync``: the route its api_call cron example calls."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok

bp = Blueprint(__name__)

IMPORT_TYPE = "plugin:my-plugin:import"
PLUGIN_ID = "my-plugin"


@endpoint(bp, "/my-plugin/sync", ["POST"])
def sync(call: Call) -> Response:
    """Start an import for a store: ``storeId`` in the body, else the calling job's store."""
    body = call.optional_json_body()
    store_id = body.get("storeId") or call.request.headers.get("x-tickwork-store-id")
    if not store_id and len(call.principal.stores) == 1:
        store_id = next(iter(call.principal.stores))
    job = runtime.job_manager.schedule_job(
        type=IMPORT_TYPE,
        payload={"source": body.get("source", "external-api"), "count": body.get("count", 0)},
        store_id=store_id or "",
        metadata={"pluginId": PLUGIN_ID, "description": "sync requested through /api/my-plugin/sync"},
        principal=call.principal,
    )
    return ok({"job": job.to_public()}, 202)
