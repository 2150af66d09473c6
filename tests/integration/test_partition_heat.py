"""No partition key of the jobs table's status index carries much of the system's writes.

DynamoDB serves one partition key value at about 1,000 write units a second, on the table and
on each GSI alike. A botocore hook on the runtime's session sees every write the API, the workers
and the tick send; a separate client that the hook does not see reads the item before and after
it, and each index whose key the item holds before or after is charged a write on that key value
(both values when the write moves the item from one to the other). A mixed workload of 50 stores
then shows where the writes land.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bench.partition_heat import HeatRecorder
from chalicelib.jobs.shards import STATUS_SHARDS
from tests.conftest import Stack
from tests.kit import create_cron, drain_until


def status_index(recorder: HeatRecorder, table: str) -> str:
    """The jobs table's status index (not by_store_status)."""
    (name,) = [n for n in recorder.schema(table).indexes if n.startswith("by_status") and "store" not in n]
    return name


def run_mixed_workload(stack: Stack, admin: str) -> None:
    stores = [f"store-{n:02d}" for n in range(50)]
    cancel_ids: list[str] = []
    for n, store in enumerate(stores):
        stack.schedule(admin, storeId=store, payload={"count": 2})  # the plugin's import job
        if n % 2 == 0:
            stack.schedule(admin, storeId=store, type="plugin:test-kit:flaky", payload={"failures": 1})
        if n % 5 == 0:  # fails every attempt: retrying, then failed
            stack.schedule(admin, storeId=store, type="plugin:test-kit:flaky", payload={"failures": 9}, maxRetries=1)
        if n % 4 == 0:
            cancel_ids.append(stack.schedule(admin, storeId=store, delay=600)["id"])
        if n % 5 == 1:
            stack.schedule(admin, storeId=store, delay=3600)  # delayed: stays pending
    for n in range(3):
        create_cron(stack, admin, name=f"cron {n}", store_id=stores[n], cron_expression=f"{n}/7 * * * *")
    for job_id in cancel_ids:
        assert stack.post(f"/api/background-jobs/{job_id}/cancel", {}, admin).status_code == 200
    stack.runtime.tick.run_tick(datetime.now(UTC))

    def settled() -> bool:
        counts = stack.get("/api/background-jobs/stats", admin).json_body["stats"]["counts"]
        return counts["running"] == counts["retrying"] == 0 and counts["completed"] + counts["failed"] >= 50 + 25

    drain_until(stack, settled, deadline_s=60)


def test_no_status_partition_carries_over_2_in_n_of_its_writes(stack: Stack, admin: str) -> None:
    recorder = HeatRecorder(stack.session)
    run_mixed_workload(stack, admin)
    jobs_table = stack.runtime.settings.jobs_table
    shares = recorder.hottest()
    assert shares, "the hook saw no writes"
    for (table, index), (value, share, total) in shares.items():
        print(f"{table:24} {index:18} hottest {value!r:36} {share:6.1%} of {total} writes")
    value, share, total = shares[(jobs_table, status_index(recorder, jobs_table))]
    assert total > 500, total
    assert share <= 2 / STATUS_SHARDS, f"{value!r} carries {share:.1%} of the status index's {total} writes"
