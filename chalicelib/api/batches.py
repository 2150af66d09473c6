"""``/api/background-jobs/batches``: create a batch, list a store's, read one, list its children, cancel it."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.background_jobs import shown_all
from chalicelib.api.batch_schemas import (
    BatchAnswer,
    BatchDetailAnswer,
    BatchJobPageAnswer,
    BatchPageAnswer,
    CreatedBatchAnswer,
)
from chalicelib.api.docs import LIMIT, NEXT_TOKEN, QueryParam
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.batches.model import Batch, BatchRequest, BatchState, shown
from chalicelib.batches.views import callbacks_shown
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import parse_model

bp = Blueprint(__name__)


def view(batch: Batch) -> dict[str, object]:
    return shown(batch, runtime.current().batches.live(batch))


def detail(batch: Batch) -> dict[str, object]:
    """The batch with its callbacks: a final batch's callback jobs are read (up to two GetItems)."""
    return {**view(batch), "callbacks": callbacks_shown(batch, runtime.current().batches.callback_jobs(batch))}


@endpoint(
    bp,
    "/background-jobs/batches",
    ["POST"],
    summary="Schedule up to 1,000 jobs as one batch, with callbacks when all have ended.",
    body=BatchRequest,
    response=CreatedBatchAnswer,
    status=(201, 200),
    errors=(403, 409, 413, 429),
)
def create_batch(call: Call) -> Response:
    request = parse_model(BatchRequest, call.json_body())
    batch, created = runtime.current().batches.create(request, call.principal)
    return ok({"batch": view(batch), "created": created}, 201 if created else 200)


@endpoint(
    bp,
    "/background-jobs/batches",
    ["GET"],
    summary="A store's batches, newest first, with their children's counted ends (403 for a store it may not see).",
    query=(
        QueryParam("store_id", "The store whose batches to list; required unless the token has one store."),
        QueryParam("status", "Only batches in this status.", {"type": "string", "enum": [s.value for s in BatchState]}),
        LIMIT,
        NEXT_TOKEN,
    ),
    response=BatchPageAnswer,
    errors=(403,),
)
def list_batches(call: Call) -> Response:
    state = call.status_query(BatchState)
    batches, next_token = runtime.current().batches.list(
        call.principal,
        store_id=call.query("store_id") or call.query("storeId"),
        state=state,
        limit=call.page_size(),
        next_token=call.query("next_token"),
    )
    return ok({"batches": [batch.summary() for batch in batches], "next_token": next_token})


@endpoint(
    bp,
    "/background-jobs/batches/{batch_id}",
    ["GET"],
    summary="A batch: counts of its children's ends, those waiting and running, its progress, its callbacks.",
    response=BatchDetailAnswer,
)
def get_batch(call: Call, batch_id: str) -> Response:
    return ok({"batch": detail(runtime.current().batches.get(batch_id, call.principal))})


@endpoint(
    bp,
    "/background-jobs/batches/{batch_id}/jobs",
    ["GET"],
    summary="A batch's children, a page at a time.",
    query=(
        QueryParam("status", "Only children in this status.", {"type": "string", "enum": [s.value for s in JobStatus]}),
        LIMIT,
        NEXT_TOKEN,
    ),
    response=BatchJobPageAnswer,
)
def batch_jobs(call: Call, batch_id: str) -> Response:
    status = call.status_query(JobStatus)
    page = runtime.current().batches.children(
        batch_id, call.principal, status=status, limit=call.page_size(), next_token=call.query("next_token")
    )
    return ok({"jobs": shown_all(page.jobs), "next_token": page.next_token})


@endpoint(
    bp,
    "/background-jobs/batches/{batch_id}/cancel",
    ["POST"],
    summary="Cancel a batch's unfinished children (each as its own cancel would); finished ones stay.",
    response=BatchAnswer,
    errors=(403, 409),
)
def cancel_batch(call: Call, batch_id: str) -> Response:
    return ok({"batch": view(runtime.current().batches.cancel(batch_id, call.principal))})
