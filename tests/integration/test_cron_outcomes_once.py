"""A cron run's outcome is counted on its cron job exactly once, whenever the worker dies.

The model-based tests found this: a worker killed after a run's final write and before the
count left ``success_count`` one short for ever. The count and the run's mark are now one
transaction, and a redelivered message of a finished but uncounted run counts it.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.jobs.model import JobMessage
from chalicelib.jobs.store import JobFilter
from tests.conftest import Stack, token
from tests.kit import at, create_cron, tick

ADMIN = token("admin")


class Killed(BaseException):
    """Escapes the worker as a killed process would."""


def kill_after(stack: Stack, operation: str, nth: int) -> Any:
    """Kill the worker right after its ``nth`` call of ``operation`` to DynamoDB."""
    seen = {"calls": 0}

    def hook(**_: Any) -> None:
        seen["calls"] += 1
        if seen["calls"] == nth:
            raise Killed()

    clients = [stack.runtime.store._table.meta.client, stack.runtime.cron_store._table.meta.client]
    for client in clients:
        client.meta.events.register(f"after-call.dynamodb.{operation}", hook)
    return lambda: [client.meta.events.unregister(f"after-call.dynamodb.{operation}", hook) for client in clients]


@pytest.mark.parametrize(
    ("operation", "nth"),
    [
        ("UpdateItem", 3),  # the run's final write (the store's slot take, then the claim): killed before counting
        ("TransactWriteItems", 1),  # killed right after counting, before the message is deleted
    ],
)
def test_a_run_whose_worker_dies_around_the_count_is_counted_once(
    clocked_stack: Stack, operation: str, nth: int
) -> None:
    stack = clocked_stack
    cron = create_cron(stack, ADMIN, configuration={"failures": 0})
    tick(stack, at(5))
    undo = kill_after(stack, operation, nth)
    with pytest.raises(Killed):
        stack.poller.poll_once()
    undo()
    [job] = stack.runtime.store.list(JobFilter(cron_job_id=cron["id"]), limit=10, next_token=None).jobs
    assert job.status.value == "completed"
    # The message comes back (its visibility lapses): here, sent again at once.
    stack.runtime.queues.send(job.priority, JobMessage(job_id=job.id), delay_s=0)
    stack.poller.drain()
    shown = stack.get(f"/api/cron-jobs/{cron['id']}", ADMIN).json_body["job"]
    assert shown["success_count"] == 1 and shown["last_status"] == "completed"


def cron_table_calls(stack: Stack) -> tuple[list[str], Any]:
    """Every request naming the cron table (a transaction's too), by operation; and how to stop."""
    seen: list[str] = []
    cron_table = stack.runtime.cron_store._table.name

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if cron_table in params.get("body", b"").decode():
            seen.append(model.name)

    client = stack.runtime.cron_store._table.meta.client
    client.meta.events.register("before-call.dynamodb.*", record)
    return seen, lambda: client.meta.events.unregister("before-call.dynamodb.*", record)


def test_a_successful_run_is_counted_and_stops_being_current_in_one_write(clocked_stack: Stack) -> None:
    stack = clocked_stack
    cron = create_cron(stack, ADMIN, configuration={"failures": 0})
    tick(stack, at(5))  # the 12:05 run is queued and named the cron job's current run
    assert stack.runtime.cron_store.get(cron["id"]).current_job_id is not None  # type: ignore[union-attr]
    seen, stop = cron_table_calls(stack)
    stack.poller.drain()
    stop()
    # The claim's check (paused? rescheduled?) reads; the count, the mark and the clear are one write.
    assert seen == ["GetItem", "TransactWriteItems"]
    after = stack.runtime.cron_store.get(cron["id"])
    assert after is not None and after.success_count == 1 and after.current_job_id is None


def test_a_run_no_longer_current_is_counted_and_leaves_the_newer_run_current(clocked_stack: Stack) -> None:
    stack = clocked_stack
    cron = create_cron(stack, ADMIN, configuration={"failures": 0})
    tick(stack, at(5))
    store = stack.runtime.cron_store
    first = store.get(cron["id"])
    assert first is not None and first.current_job_id is not None
    newer = first.model_copy(update={"current_job_id": "a-newer-run"})
    store.replace(newer, expected_version=first.version)
    stack.poller.drain()
    after = store.get(cron["id"])
    assert after is not None and after.success_count == 1 and after.current_job_id == "a-newer-run"
