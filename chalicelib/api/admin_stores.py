"""``/api/admin/stores/{store_id}/data``: erasing everything a store keeps here (admin only)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.background_jobs import shown
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import ScheduledJobAnswer
from chalicelib.jobs.erasure import request_erasure

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/admin/stores/{store_id}/data",
    ["DELETE"],
    summary="Erase a store's jobs, log lines, stored values, cron jobs and secrets (admin); 202 with the erase job.",
    response=ScheduledJobAnswer,
    status=202,
    errors=(403, 409),
)
def erase_store_data(call: Call, store_id: str) -> Response:
    outcome = request_erasure(runtime.current().jobs, store_id, call.principal)
    # The same answer whether this request started the erase or found it running: poll the job.
    return ok({"job": shown(outcome.job), "created": outcome.created}, 202)
