"""The overview's counters on moto: one UpdateItem per batch, right values, the windows, the TTLs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bench.requests_per_job import watch_stats_writes
from chalicelib.stats.store import HOUR_TTL, MINUTE_TTL, hour_id, minute_id
from tests import handlers  # noqa: F401 - registers the test-kit job types
from tests.conftest import T0, Stack, assert_error, token
from tests.kit import invoke_until_empty, tick

FLAKY = "plugin:test-kit:flaky"


def stats_items(stack: Stack) -> list[dict[str, Any]]:
    items = stack.runtime._jobs_table.scan()["Items"]
    return [item for item in items if str(item["id"]).startswith("stats#")]


def overview(stack: Stack, window: str = "hour", tok: str | None = None) -> dict[str, Any]:
    answer = stack.get(f"/api/admin/overview?window={window}", tok or token("admin"))
    assert answer.status_code == 200, answer.json_body
    body: dict[str, Any] = answer.json_body["overview"]
    return body


def test_each_batch_writes_its_counts_with_one_update_item(clocked_stack: Stack) -> None:
    admin = token("admin")
    for _ in range(6):
        clocked_stack.schedule(admin)
    for _ in range(2):
        clocked_stack.schedule(admin, type=FLAKY, payload={"failures": 9}, maxRetries=0)
    for _ in range(2):
        clocked_stack.schedule(admin, type=FLAKY, payload={"failures": 1}, maxRetries=1)
    writes = watch_stats_writes(clocked_stack)

    batches = invoke_until_empty(clocked_stack, checks=1000)

    assert batches >= 2  # ten jobs, then the two retries
    assert len(writes) == batches, writes
    minute = T0.replace(second=0, microsecond=0)
    assert all(key.startswith(f"stats#{minute:%Y%m%d%H%M}#") for key in writes)
    now = overview(clocked_stack)["points"][-1]
    assert now["outcomes"] == {"completed": 8, "failed": 2, "cancelled": 0, "retried": 2}
    assert now["failure_rate"] == 0.2
    assert now["wait_p50_s"] == 0.1  # the clock stood still: every first attempt waited 0 s
    assert set(now["run_mean_s"]) == {"plugin:my-plugin:import", FLAKY}


def test_a_batch_that_counted_nothing_writes_nothing(clocked_stack: Stack) -> None:
    writes = watch_stats_writes(clocked_stack)
    clocked_stack.runtime.worker.handle_event({"Records": []})
    assert writes == []


def test_wait_percentiles_come_from_the_buckets_of_known_waits(clocked_stack: Stack) -> None:
    recorder = clocked_stack.runtime.stats
    for seconds in range(1, 101):  # 1..100 s: p50 is 50 s (bucket up to 60), p95 95 s (up to 150)
        recorder.tally.wait(float(seconds))
    recorder.tally.run("plugin:my-plugin:import", 2.0)
    recorder.tally.run("plugin:my-plugin:import", 4.0)
    assert recorder.flush()
    point = overview(clocked_stack)["points"][-1]
    assert (point["wait_p50_s"], point["wait_p95_s"]) == (60.0, 150.0)
    assert point["run_mean_s"] == {"plugin:my-plugin:import": 3.0}


def test_the_hour_window_has_a_point_a_minute_and_the_day_an_hour_from_roll_ups(clocked_stack: Stack) -> None:
    store = clocked_stack.runtime.stats_store
    for minutes_ago, n in ((0, 1), (5, 2), (59, 3), (60, 4), (125, 5)):
        store.add(T0 - timedelta(minutes=minutes_ago), {"n_completed": n})
    for minutes_ago in (0, 5, 59, 60, 125):
        assert store.roll_up(T0 - timedelta(minutes=minutes_ago))
    assert not store.roll_up(T0 - timedelta(minutes=5)), "a minute is added into its hour once"

    hour = overview(clocked_stack, "hour")
    assert (hour["step_s"], len(hour["points"])) == (60, 60)
    completed = [p["outcomes"]["completed"] for p in hour["points"]]
    assert (completed[-1], completed[-6], completed[0], sum(completed)) == (1, 2, 3, 6)

    day = overview(clocked_stack, "day")
    assert (day["step_s"], len(day["points"])) == (3600, 24)
    by_hour = {p["at"]: p["outcomes"]["completed"] for p in day["points"]}
    at = T0.replace(minute=0, second=0, microsecond=0)
    expected: dict[str, int] = {}
    for minutes_ago, n in ((0, 1), (5, 2), (59, 3), (60, 4), (125, 5)):
        start = (T0 - timedelta(minutes=minutes_ago)).replace(minute=0, second=0, microsecond=0)
        key = start.strftime("%Y-%m-%dT%H:%M:%S")
        expected[key] = expected.get(key, 0) + n
    assert {k[:19]: v for k, v in by_hour.items() if v} == expected
    assert day["points"][-1]["at"].startswith(at.strftime("%Y-%m-%dT%H:00:00"))


def test_stats_items_carry_their_ttl(clocked_stack: Stack) -> None:
    store = clocked_stack.runtime.stats_store
    store.add(T0, {"n_failed": 1})
    store.roll_up(T0)
    items = {str(item["id"]): item for item in stats_items(clocked_stack)}
    minute = T0.replace(second=0, microsecond=0)
    hour = T0.replace(minute=0, second=0, microsecond=0)
    (minute_key,) = [key for key in items if key.startswith(minute_id(minute, 0)[:-1])]
    assert int(items[minute_key]["expires_at"]) == int((minute + MINUTE_TTL).timestamp())
    assert int(items[hour_id(hour)]["expires_at"]) == int((hour + HOUR_TTL).timestamp())


def test_a_tick_writes_lateness_and_queue_depths_once_and_rolls_up_an_earlier_minute(clocked_stack: Stack) -> None:
    admin = token("admin")
    clocked_stack.schedule(admin)  # one message waits in the normal queue
    cron = {
        "name": "every minute",
        "cron_expression": "* * * * *",
        "job_type": "plugin:my-plugin:import",
        "store_id": "store-a",
        "configuration": {"count": 1},
    }
    assert clocked_stack.post("/api/cron-jobs", cron, admin).status_code == 201
    writes = watch_stats_writes(clocked_stack)
    tick(clocked_stack, T0 + timedelta(minutes=1, seconds=20))
    minute_writes = [key for key in writes if not key.startswith("stats#h#")]
    assert len(minute_writes) == 1, writes
    point = overview(clocked_stack)["points"][-1]
    assert point["lateness_p50_s"] is not None
    assert point["queue_depth"]["normal"] >= 1
    tick(clocked_stack, T0 + timedelta(minutes=3, seconds=20))  # rolls minute 1 into its hour
    day_point = overview(clocked_stack, "day")["points"][-1]
    assert day_point["lateness_p50_s"] is not None
    assert day_point["queue_depth"]["normal"] >= 1


def test_a_cancel_through_the_api_is_counted_by_its_request(clocked_stack: Stack) -> None:
    admin = token("admin")
    job = clocked_stack.schedule(admin, runAt=(T0 + timedelta(hours=1)).isoformat())
    writes = watch_stats_writes(clocked_stack)
    assert clocked_stack.post(f"/api/background-jobs/{job['id']}/cancel", {}, admin).status_code == 200
    assert len(writes) == 1
    assert overview(clocked_stack)["points"][-1]["outcomes"]["cancelled"] == 1


def test_only_an_admin_reads_the_overview_and_a_bad_window_is_a_400(clocked_stack: Stack) -> None:
    owner = token("store_owner", stores=["store-a"])
    assert_error(clocked_stack.get("/api/admin/overview", owner), 403, "admin_only")
    assert_error(clocked_stack.get("/api/admin/overview?window=week", token("admin")), 400, "validation_error")
    assert clocked_stack.client.http.get("/api/admin/overview").status_code == 401
