"""``/api/cron-jobs``: create, list, read, change, pause/resume/toggle, run now, history, preview."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.crons.models import CronJobFields, PreviewRequest
from chalicelib.errors import BadRequestError
from chalicelib.models import parse_model

bp = Blueprint(__name__)


@endpoint(bp, "/cron-jobs", ["POST"])
def create(call: Call) -> Response:
    cron = runtime.current().crons.create(parse_model(CronJobFields, call.json_body()), call.principal)
    return ok({"job": cron.to_public()}, 201)


@endpoint(bp, "/cron-jobs", ["GET"])
def list_crons(call: Call) -> Response:
    page = runtime.current().crons.list(
        call.principal,
        store_id=call.query("store_id") or call.query("storeId"),
        plugin_id=call.query("plugin_id") or call.query("pluginId"),
        job_type=call.query("job_type") or call.query("jobType"),
        is_active=_flag(call.query("is_active") or call.query("isActive")),
        limit=call.page_size(),
        next_token=call.query("next_token"),
    )
    return ok({"jobs": [cron.to_public() for cron in page.crons], "next_token": page.next_token})


@endpoint(bp, "/cron-jobs/preview", ["POST"])
def preview(call: Call) -> Response:
    return ok(runtime.current().crons.preview(parse_model(PreviewRequest, call.json_body())))


@endpoint(bp, "/cron-jobs/{cron_id}", ["GET"])
def read(call: Call, cron_id: str) -> Response:
    return ok({"job": runtime.current().crons.get(cron_id, call.principal).to_public()})


@endpoint(bp, "/cron-jobs/{cron_id}", ["PUT"])
def replace(call: Call, cron_id: str) -> Response:
    fields = parse_model(CronJobFields, call.json_body())
    return ok({"job": runtime.current().crons.update(cron_id, fields, call.principal, replace=True).to_public()})


@endpoint(bp, "/cron-jobs/{cron_id}", ["PATCH"])
def patch(call: Call, cron_id: str) -> Response:
    fields = parse_model(CronJobFields, call.json_body())
    return ok({"job": runtime.current().crons.update(cron_id, fields, call.principal, replace=False).to_public()})


@endpoint(bp, "/cron-jobs/{cron_id}", ["DELETE"])
def delete(call: Call, cron_id: str) -> Response:
    runtime.current().crons.delete(cron_id, call.principal)
    return ok({"deleted": cron_id})


@endpoint(bp, "/cron-jobs/{cron_id}/pause", ["POST"])
def pause(call: Call, cron_id: str) -> Response:
    return ok({"job": runtime.current().crons.set_active(cron_id, call.principal, False).to_public()})


@endpoint(bp, "/cron-jobs/{cron_id}/resume", ["POST"])
def resume(call: Call, cron_id: str) -> Response:
    return ok({"job": runtime.current().crons.set_active(cron_id, call.principal, True).to_public()})


@endpoint(bp, "/cron-jobs/{cron_id}/toggle", ["POST"])
def toggle(call: Call, cron_id: str) -> Response:
    return ok({"job": runtime.current().crons.set_active(cron_id, call.principal, None).to_public()})


@endpoint(bp, "/cron-jobs/{cron_id}/run", ["POST"])
def run_now(call: Call, cron_id: str) -> Response:
    execution = runtime.current().crons.run_now(cron_id, call.principal)
    return ok({"execution": execution.to_public()}, 202)


@endpoint(bp, "/cron-jobs/{cron_id}/executions", ["GET"])
def executions(call: Call, cron_id: str) -> Response:
    page = runtime.current().crons.executions(
        cron_id, call.principal, limit=call.page_size(), next_token=call.query("next_token")
    )
    return ok({"executions": [job.to_public() for job in page.jobs], "next_token": page.next_token})


def _flag(text: str | None) -> bool | None:
    if text is None:
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise BadRequestError(
        "is_active must be true or false.",
        code="validation_error",
        details=[{"field": "is_active", "message": "true or false"}],
    )
