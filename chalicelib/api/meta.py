"""Health and the catalogue of job types."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok

bp = Blueprint(__name__)


@endpoint(bp, "/health", ["GET"], public=True)
def health(call: Call) -> Response:
    return ok({"status": "ok"})


@endpoint(bp, "/job-types", ["GET"])
def job_types(call: Call) -> Response:
    types = [t.describe() for t in runtime.registry.all() if call.principal.is_admin or not t.admin_only]
    return ok({"job_types": types})
