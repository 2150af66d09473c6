"""``/api/cron-jobs``: create, list, read, change, pause/resume/toggle, run now, history, preview."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.background_jobs import shown, shown_all
from chalicelib.api.docs import LIMIT, NEXT_TOKEN, PLUGIN_ID, STORE_ID, QueryParam
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import (
    CronJobAnswer,
    CronJobPageAnswer,
    DeletedAnswer,
    ExecutionAnswer,
    ExecutionPageAnswer,
    PreviewAnswer,
)
from chalicelib.crons.expression import parse_schedule
from chalicelib.crons.locales import DEFAULT_LOCALE, negotiate
from chalicelib.crons.model import CronJob, CronJobFields, PreviewRequest
from chalicelib.errors import BadRequestError
from chalicelib.jobs.model import parse_model

bp = Blueprint(__name__)


def locale_of(call: Call) -> str:
    return negotiate(call.request.headers.get("accept-language"), call.query("locale"))


def public(call: Call, cron: CronJob) -> dict[str, Any]:
    """The cron job as shown, its schedule described in the caller's language."""
    data = cron.to_public()
    locale = locale_of(call)
    if locale != DEFAULT_LOCALE:
        data["schedule_description"] = parse_schedule(cron.cron_expression, cron.timezone).describe(locale)
    return data


LOCALE = QueryParam(
    "locale",
    "The language of `schedule_description` (en, de, fr, es, nl; else English); "
    "without it, the `Accept-Language` header decides.",
)
LIST_QUERY = (
    LOCALE,
    STORE_ID,
    PLUGIN_ID,
    QueryParam("job_type", "Only cron jobs of this job type (`jobType` is accepted too)."),
    QueryParam("is_active", "Only active (true) or paused (false) cron jobs.", {"type": "boolean"}),
    LIMIT,
    NEXT_TOKEN,
)


@endpoint(
    bp,
    "/cron-jobs",
    ["POST"],
    summary="Create a cron job (name, cron_expression and job_type are required).",
    body=CronJobFields,
    response=CronJobAnswer,
    status=201,
    errors=(403, 429),
)
def create(call: Call) -> Response:
    cron = runtime.current().crons.create(parse_model(CronJobFields, call.json_body()), call.principal)
    return ok({"job": public(call, cron)}, 201)


@endpoint(
    bp,
    "/cron-jobs",
    ["GET"],
    summary="List the cron jobs the caller may see (403 for a store it may not see).",
    query=LIST_QUERY,
    response=CronJobPageAnswer,
    errors=(403,),
)
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
    return ok({"jobs": [public(call, cron) for cron in page.crons], "next_token": page.next_token})


@endpoint(
    bp,
    "/cron-jobs/preview",
    ["POST"],
    summary="Describe a cron expression and list its next fire times (400 names why it is invalid).",
    body=PreviewRequest,
    response=PreviewAnswer,
)
def preview(call: Call) -> Response:
    answer = runtime.current().crons.preview(parse_model(PreviewRequest, call.json_body()))
    schedule = parse_schedule(answer["cron_expression"], answer["timezone"])
    return ok({**answer, "description": schedule.describe(locale_of(call))})


@endpoint(bp, "/cron-jobs/{cron_id}", ["GET"], summary="A cron job.", query=(LOCALE,), response=CronJobAnswer)
def read(call: Call, cron_id: str) -> Response:
    return ok({"job": public(call, runtime.current().crons.get(cron_id, call.principal))})


@endpoint(
    bp,
    "/cron-jobs/{cron_id}",
    ["PUT"],
    summary="Replace a cron job (left-out fields take their defaults).",
    body=CronJobFields,
    response=CronJobAnswer,
    errors=(403, 409),
)
def replace(call: Call, cron_id: str) -> Response:
    fields = parse_model(CronJobFields, call.json_body())
    return ok({"job": public(call, runtime.current().crons.update(cron_id, fields, call.principal, replace=True))})


@endpoint(
    bp,
    "/cron-jobs/{cron_id}",
    ["PATCH"],
    summary="Change some fields of a cron job.",
    body=CronJobFields,
    response=CronJobAnswer,
    errors=(403, 409),
)
def patch(call: Call, cron_id: str) -> Response:
    fields = parse_model(CronJobFields, call.json_body())
    return ok({"job": public(call, runtime.current().crons.update(cron_id, fields, call.principal, replace=False))})


@endpoint(
    bp, "/cron-jobs/{cron_id}", ["DELETE"], summary="Delete a cron job.", response=DeletedAnswer, errors=(403, 409)
)
def delete(call: Call, cron_id: str) -> Response:
    runtime.current().crons.delete(cron_id, call.principal)
    return ok({"deleted": cron_id})


@endpoint(
    bp, "/cron-jobs/{cron_id}/pause", ["POST"], summary="Pause a cron job.", response=CronJobAnswer, errors=(403, 409)
)
def pause(call: Call, cron_id: str) -> Response:
    return ok({"job": public(call, runtime.current().crons.set_active(cron_id, call.principal, False))})


@endpoint(
    bp, "/cron-jobs/{cron_id}/resume", ["POST"], summary="Resume a cron job.", response=CronJobAnswer, errors=(403, 409)
)
def resume(call: Call, cron_id: str) -> Response:
    return ok({"job": public(call, runtime.current().crons.set_active(cron_id, call.principal, True))})


@endpoint(
    bp,
    "/cron-jobs/{cron_id}/toggle",
    ["POST"],
    summary="Pause an active cron job, resume a paused one.",
    response=CronJobAnswer,
    errors=(403, 409),
)
def toggle(call: Call, cron_id: str) -> Response:
    return ok({"job": public(call, runtime.current().crons.set_active(cron_id, call.principal, None))})


@endpoint(
    bp,
    "/cron-jobs/{cron_id}/run",
    ["POST"],
    summary="Run a cron job now; answers its execution (a job).",
    response=ExecutionAnswer,
    status=202,
    errors=(403, 409, 429),
)
def run_now(call: Call, cron_id: str) -> Response:
    execution = runtime.current().crons.run_now(cron_id, call.principal)
    return ok({"execution": shown(execution)}, 202)


@endpoint(
    bp,
    "/cron-jobs/{cron_id}/executions",
    ["GET"],
    summary="A cron job's executions, newest first.",
    query=(LIMIT, NEXT_TOKEN),
    response=ExecutionPageAnswer,
)
def executions(call: Call, cron_id: str) -> Response:
    page = runtime.current().crons.executions(
        cron_id, call.principal, limit=call.page_size(), next_token=call.query("next_token")
    )
    return ok({"executions": shown_all(page.jobs), "next_token": page.next_token})


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
