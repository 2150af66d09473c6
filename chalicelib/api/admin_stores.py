"""``/api/admin/stores/{store_id}/data``: erasing everything a store keeps here (admin only)."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import Field

from chalicelib import runtime
from chalicelib.api.background_jobs import shown
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import Envelope, JobView
from chalicelib.jobs.erasure import request_erasure

bp = Blueprint(__name__)


class ErasureAnswer(Envelope):
    job: JobView  # type: ignore[valid-type]
    created: bool = Field(
        description="True when this request started the erase, or ran a finished one again; "
        "false when it was already queued or running."
    )


@endpoint(
    bp,
    "/admin/stores/{store_id}/data",
    ["DELETE"],
    summary="Erase a store's jobs, log lines, stored values, cron jobs and secrets (admin); 202 with the erase job.",
    response=ErasureAnswer,
    status=202,
    errors=(400, 403, 409),
)
def erase_store_data(call: Call, store_id: str) -> Response:
    outcome = request_erasure(runtime.current().jobs, store_id, call.principal)
    # The same answer whether this request started the erase or found it running: poll the job.
    return ok({"job": shown(outcome.job), "created": outcome.created}, 202)
