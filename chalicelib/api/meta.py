"""Health and the catalogue of job types."""

from __future__ import annotations

import logging

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import HealthAnswer, JobTypesAnswer
from chalicelib.crons.heartbeat import HeartbeatUnreadableError
from chalicelib.crons.liveness import tick_health

logger = logging.getLogger("tickwork.api")

bp = Blueprint(__name__)


@endpoint(
    bp,
    "/health",
    ["GET"],
    public=True,
    summary="Liveness, and when the minute tick last ran (no token needed).",
    response=HealthAnswer,
)
def health(call: Call) -> Response:
    rt = runtime.current()
    try:
        last_at = rt.tick_heartbeat.last()  # one GetItem per container every few seconds at most
    except HeartbeatUnreadableError:
        last_at = None  # the failed read was logged when it happened
    except Exception:
        # The API answers; what it cannot tell is whether the tick runs.
        logger.exception("could not read the tick's heartbeat")
        last_at = None
    tick = tick_health(last_at, rt.clock.now())
    return ok({"status": "ok" if tick.ok else "degraded", "tick": tick.view()})


@endpoint(
    bp,
    "/job-types",
    ["GET"],
    summary="The job types the caller may use, each with its configuration schema.",
    response=JobTypesAnswer,
)
def job_types(call: Call) -> Response:
    types = [t.describe() for t in runtime.registry.all() if call.principal.is_admin or not t.admin_only]
    return ok({"job_types": types})
