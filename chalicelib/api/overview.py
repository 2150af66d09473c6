"""``GET /api/admin/overview``: the dashboard's charts, from the stats items (admin only)."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.docs import QueryParam
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import Envelope, QueueDepth
from chalicelib.errors import BadRequestError, ForbiddenError
from chalicelib.stats.series import WINDOWS, overview, point_times

bp = Blueprint(__name__)

WINDOW = QueryParam(
    "window",
    "`hour`: the last 60 minutes, a point a minute (default); `day`: the last 24 hours, a point an hour.",
    {"type": "string", "enum": sorted(WINDOWS), "default": "hour"},
)


class Outcomes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completed: int
    failed: int
    cancelled: int
    retried: int = Field(description="Failed attempts recorded as retrying.")


class OverviewPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: str = Field(description="The start of the minute or hour (ISO 8601 UTC).")
    outcomes: Outcomes
    failure_rate: float | None = Field(description="failed / (completed + failed); null when none ended.")
    wait_p50_s: float | None = Field(description="Start minus due of first attempts, from buckets: an upper bound.")
    wait_p95_s: float | None
    lateness_p50_s: float | None = Field(description="How late the tick fired cron slots, from buckets.")
    lateness_p95_s: float | None
    run_mean_s: dict[str, float] = Field(description="Mean run time per registered job type (others: `other`).")
    queue_depth: dict[str, int] = Field(description="The tick's sample per priority: waiting plus in flight.")


class OverviewView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: str
    step_s: int
    types: list[str] = Field(description="The job types with a run time in the window.")
    points: list[OverviewPoint] = Field(description="Oldest first: 60 minutes or 24 hours, the last one current.")
    queues: dict[str, QueueDepth] = Field(description="The queues' depths now, per priority.")


class OverviewAnswer(Envelope):
    overview: OverviewView


@endpoint(
    bp,
    "/admin/overview",
    ["GET"],
    summary="Jobs finished, waits, run times, failure rate, cron lateness and queue depths over time (admin).",
    query=(WINDOW,),
    response=OverviewAnswer,
    errors=(400, 403),
)
def get_overview(call: Call) -> Response:
    if not call.principal.is_admin:
        raise ForbiddenError("Only an admin may read the overview.", code="admin_only")
    name = call.query("window") or "hour"
    window = WINDOWS.get(name)
    if window is None:
        raise BadRequestError(
            f"window must be one of {', '.join(sorted(WINDOWS))}.",
            code="validation_error",
            details=[{"field": "window", "message": f"one of {', '.join(sorted(WINDOWS))}", "type": "enum"}],
        )
    current = runtime.current()
    now = current.clock.now()
    times = point_times(window, now)
    store = current.stats_store
    by_time = store.hours(times[0], times[-1]) if name == "day" else store.minutes(times[0], times[-1])
    view = overview(window, now, by_time)
    view["queues"] = current.queues.depths()
    return ok({"overview": OverviewView.model_validate(view).model_dump()})
