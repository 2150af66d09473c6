"""GET /api/health says when the minute tick last ran, and "degraded" once it is 3 minutes late."""

from __future__ import annotations

import io
from typing import Any

from chalicelib.clock import to_iso
from chalicelib.crons.heartbeat import HEARTBEAT_ID
from devstack import cli
from tests.conftest import T0, Stack
from tests.kit import at, tick


def health(stack: Stack) -> Any:
    response = stack.client.http.get("/api/health")  # no token, as a load balancer asks
    assert response.status_code == 200
    return response.json_body


def test_health_is_degraded_before_any_tick_has_run(clocked_stack: Stack) -> None:
    assert health(clocked_stack) == {"success": True, "status": "degraded", "tick": {"last_at": None, "lag_s": None}}


def test_health_is_ok_after_a_tick_and_degraded_three_minutes_without_one(clocked_stack: Stack) -> None:
    stack = clocked_stack
    tick(stack, at(1))
    assert health(stack) == {"success": True, "status": "ok", "tick": {"last_at": to_iso(at(1)), "lag_s": 0.0}}
    stack.clock.advance(180)  # type: ignore[union-attr]
    assert health(stack)["status"] == "ok"  # a late tick or two is not an outage
    stack.clock.advance(1)  # type: ignore[union-attr]
    assert health(stack) == {
        "success": True,
        "status": "degraded",
        "tick": {"last_at": to_iso(at(1)), "lag_s": 181.0},
    }
    tick(stack, at(5))
    assert health(stack)["status"] == "ok" and health(stack)["tick"]["last_at"] == to_iso(at(5))


def test_the_heartbeat_is_an_item_no_index_holds_and_no_job_route_answers(clocked_stack: Stack, admin: str) -> None:
    stack = clocked_stack
    tick(stack, T0)
    item = stack.runtime._jobs_table.get_item(Key={"id": HEARTBEAT_ID})["Item"]
    assert item == {"id": HEARTBEAT_ID, "last_at": to_iso(T0)}  # no indexed attribute
    assert stack.get("/api/background-jobs/tick%23heartbeat/status", admin).status_code == 404
    assert stack.runtime.store.backfill_status_shards().scanned == 0


def test_a_tick_that_cannot_write_its_heartbeat_still_fires_and_health_reads_stale(
    clocked_stack: Stack, monkeypatch: Any
) -> None:
    stack = clocked_stack
    tick(stack, at(1))

    def refuse(at: Any) -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(stack.runtime.tick, "_heartbeat", refuse)
    report = tick(stack, at(5))
    assert report.errors == 0
    assert health(stack) == {
        "success": True,
        "status": "degraded",
        "tick": {"last_at": to_iso(at(1)), "lag_s": 240.0},
    }


def test_the_cli_says_when_the_tick_ran_and_exits_1_when_degraded(served_stack: Stack) -> None:
    stack = served_stack
    url = stack.runtime.settings.api_base_url
    out = io.StringIO()
    assert cli.main(["health", "--url", str(url)], out=out, err=io.StringIO()) == 1  # no token needed
    assert out.getvalue() == "degraded: the minute tick has not run yet\n"
    tick(stack, at(1))
    stack.clock.advance(42)  # type: ignore[union-attr]
    out = io.StringIO()
    assert cli.main(["health", "--url", str(url)], out=out, err=io.StringIO()) == 0
    assert out.getvalue() == "ok: the minute tick last ran 2026-11-28 12:01:00Z (42.0 s ago)\n"


class ReadCounter:
    """The jobs table's GetItem calls, as botocore sends them."""

    def __init__(self, stack: Stack) -> None:
        self.reads = 0
        stack.runtime.tick_heartbeat._table.meta.client.meta.events.register("before-call.dynamodb.GetItem", self.count)

    def count(self, **_: Any) -> None:
        self.reads += 1


def test_health_reads_the_heartbeat_at_most_once_per_interval_however_often_it_is_asked(
    clocked_stack: Stack,
) -> None:
    from chalicelib.crons.heartbeat import READ_CACHE_S, TickHeartbeat

    stack = clocked_stack
    now = [0.0]
    heartbeat = TickHeartbeat(stack.runtime.tick_heartbeat._table, monotonic=lambda: now[0])
    stack.runtime.__dict__["tick_heartbeat"] = heartbeat  # the runtime's own, with a clock we move
    counter = ReadCounter(stack)
    for _ in range(20):  # a public route: anyone may knock, the bill stays one read an interval
        assert health(stack)["status"] == "degraded"
    assert counter.reads == 1
    now[0] += READ_CACHE_S
    health(stack)
    assert counter.reads == 2
