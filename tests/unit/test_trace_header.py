"""The trace header a request brings, in the one form SQS's AWSTraceHeader accepts."""

from __future__ import annotations

import pytest

from chalicelib.telemetry.tracing import from_traceparent, from_xray, trace_header_of

ROOT = "1-5759e988-bd862e3fe1be46a994272793"


def test_an_xray_header_keeps_its_root_parent_and_sampled_and_drops_the_rest() -> None:
    header = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5;Self=1-abc"
    assert from_xray(header) == f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1"
    assert from_xray(f"Root={ROOT}") == f"Root={ROOT}"  # API Gateway's first hop has no parent yet


@pytest.mark.parametrize(
    "header",
    ["", "Root=", "Root=1-xyz-abc", f"Parent=53995c3f42cd8ad8;Root=2-{ROOT[2:]}", "Root=" + ROOT + "x", "A" * 300],
)
def test_a_header_without_an_xray_root_is_dropped(header: str) -> None:
    assert from_xray(header) is None


def test_a_w3c_traceparent_becomes_the_xray_header_of_the_same_trace() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert from_traceparent(traceparent) == "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
    assert from_traceparent(traceparent[:-2] + "00").endswith("Sampled=0")


@pytest.mark.parametrize(
    "traceparent",
    [
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "not a traceparent",
    ],
)
def test_an_invalid_traceparent_is_dropped(traceparent: str) -> None:
    assert from_traceparent(traceparent) is None


def test_the_xray_header_wins_and_a_bad_one_falls_back_to_traceparent() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    both = {"x-amzn-trace-id": f"Root={ROOT};Sampled=0", "traceparent": traceparent}
    assert trace_header_of(both) == f"Root={ROOT};Sampled=0"
    assert trace_header_of({**both, "x-amzn-trace-id": "Self=1-abc"}).startswith("Root=1-4bf92f35-")  # type: ignore[union-attr]
    assert trace_header_of({}) is None
