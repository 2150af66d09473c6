"""The API's one flush per request: what the request recorded (jobs scheduled, cancelled, refused)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib import runtime


def flush_metrics_after(event: Any, get_response: Callable[[Any], Response]) -> Response:
    try:
        return get_response(event)
    finally:
        runtime.flush_metrics()
