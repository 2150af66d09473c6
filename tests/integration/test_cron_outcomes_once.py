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
