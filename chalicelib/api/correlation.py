"""Every request's correlation id and trace, bound for its log lines and the messages it sends.

The id is the caller's ``X-Correlation-Id`` when that is a sane token, else a new uuid; the
answer carries it back in the same header, and every job the request queues carries it to the
worker that runs it (``JobMessage.correlation_id``). The trace is API Gateway's X-Ray header (or
a W3C ``traceparent``), which the queued messages carry as SQS's ``AWSTraceHeader``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.telemetry import context
from chalicelib.telemetry.tracing import trace_header_of

HEADER = "X-Correlation-Id"

logger = logging.getLogger("tickwork.api")


def correlate(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice ``http`` middleware: binds the request's context, logs one line for its answer."""
    headers = {name.lower(): value for name, value in (request.headers or {}).items()}
    correlation_id = context.sane_correlation_id(headers.get(HEADER.lower())) or context.new_correlation_id()
    request_id = (request.context or {}).get("requestId")
    began = time.monotonic()
    with context.bound(correlation_id=correlation_id, request_id=request_id, trace_header=trace_header_of(headers)):
        response = get_response(request)
        logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - began) * 1000, 1),
            },
        )
    response.headers[HEADER] = correlation_id
    return response
