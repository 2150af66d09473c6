"""``/api/background-jobs``: schedule, status, list, cancel, retry, stats."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.docs import LIMIT, NEXT_TOKEN, PLUGIN_ID, STORE_ID, QueryParam
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import JobAnswer, JobDetailAnswer, JobPageAnswer, ScheduledJobAnswer, StatsAnswer
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import Job, ScheduleJobRequest, parse_model
from chalicelib.jobs.store import JobFilter

bp = Blueprint(__name__)

LIST_QUERY = (
    STORE_ID,
    QueryParam("status", "Only jobs in this status.", {"type": "string", "enum": [s.value for s in JobStatus]}),
    QueryParam("type", "Only jobs of this type."),
    PLUGIN_ID,
    QueryParam("batch_id", "Only the children of this batch."),
    LIMIT,
    NEXT_TOKEN,
)


def shown_all(jobs: list[Job], *, with_logs: bool = False) -> list[dict[str, Any]]:
    """The API's view of ``jobs``, with the values and lines they keep apart read back (one
    DynamoDB query found them; S3 is asked only for values too large for an item)."""
    return [job.to_public(with_logs=with_logs) for job in runtime.current().store.shown(jobs, with_logs=with_logs)]


def shown(job: Job, *, with_logs: bool = False) -> dict[str, Any]:
    return shown_all([job], with_logs=with_logs)[0]


@endpoint(
    bp,
    "/background-jobs/schedule",
    ["POST"],
    summary="Schedule a background job (now, after a delay, or at run_at).",
    body=ScheduleJobRequest,
    response=ScheduledJobAnswer,
    status=(201, 200),
    errors=(403, 409, 429),
)
def schedule(call: Call) -> Response:
    request = parse_model(ScheduleJobRequest, call.json_body())
    outcome = runtime.current().jobs.schedule(request, call.principal)
    # A repeated idempotency key answers 200 with the first job, as Stripe does.
    answer = {
        "job": shown(outcome.job),
        "created": outcome.created,
        "debounced": outcome.debounced,
        "deduplicated": outcome.deduplicated,
    }
    return ok(answer, 201 if outcome.created else 200)


@endpoint(
    bp,
    "/background-jobs",
    ["GET"],
    summary="List the background jobs the caller may see, newest first (403 for a store it may not see).",
    query=LIST_QUERY,
    response=JobPageAnswer,
    errors=(403,),
)
def list_jobs(call: Call) -> Response:
    status = call.status_query(JobStatus)
    job_filter = JobFilter(
        store_id=call.query("store_id") or call.query("storeId"),
        status=status,
        type=call.query("type"),
        plugin_id=call.query("plugin_id") or call.query("pluginId"),
        batch_id=call.query("batch_id") or call.query("batchId"),
    )
    page = runtime.current().jobs.list(
        call.principal, job_filter, limit=call.page_size(), next_token=call.query("next_token")
    )
    return ok({"jobs": shown_all(page.jobs), "next_token": page.next_token})


@endpoint(
    bp,
    "/background-jobs/stats",
    ["GET"],
    summary="Job counts by status (and, for admins, queue depths).",
    query=(QueryParam("store_id", "Only this store's counts."),),
    response=StatsAnswer,
)
def stats(call: Call) -> Response:
    return ok({"stats": runtime.current().jobs.stats(call.principal, call.query("store_id"))})


@endpoint(bp, "/background-jobs/{job_id}/status", ["GET"], summary="A job's status and progress.", response=JobAnswer)
def status(call: Call, job_id: str) -> Response:
    return ok({"job": shown(runtime.current().jobs.get(job_id, call.principal))})


@endpoint(bp, "/background-jobs/{job_id}", ["GET"], summary="A job with its log lines.", response=JobDetailAnswer)
def detail(call: Call, job_id: str) -> Response:
    return ok({"job": shown(runtime.current().jobs.get(job_id, call.principal), with_logs=True)})


@endpoint(
    bp,
    "/background-jobs/{job_id}/cancel",
    ["POST"],
    summary="Cancel a job (pending: at once; running: cancelling until the handler notices).",
    response=JobAnswer,
    errors=(403, 409),
)
def cancel(call: Call, job_id: str) -> Response:
    return ok({"job": shown(runtime.current().jobs.cancel(job_id, call.principal))})


@endpoint(
    bp,
    "/background-jobs/{job_id}/retry",
    ["POST"],
    summary="Run a failed, cancelled or dead-lettered job again.",
    response=JobAnswer,
    status=202,
    errors=(403, 409, 429),
)
def retry(call: Call, job_id: str) -> Response:
    return ok({"job": shown(runtime.current().jobs.retry(job_id, call.principal))}, 202)
