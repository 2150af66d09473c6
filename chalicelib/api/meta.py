"""Health and the catalogue of job types."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import HealthAnswer, JobTypesAnswer

bp = Blueprint(__name__)


@endpoint(bp, "/health", ["GET"], public=True, summary="Liveness (no token needed).", response=HealthAnswer)
def health(call: Call) -> Response:
    return ok({"status": "ok"})


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
