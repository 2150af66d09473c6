"""Poison messages: unreadable, job deleted, a handler that kills its process every time.

Each ends in the DLQ or as ``failed`` with its reason; the jobs around it are not held up (the
workers receive with the queue's 90-minute visibility, as Lambda does, so a message left behind
by a dead process would wait that long); the retry endpoint and the admin redrive bring them back.
"""

from __future__ import annotations

import json

from chalice.test import Client

import app as app_module
from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import assert_error, auth, token
from tests.faults import kit
from tests.faults.conftest import ServerStack
from tests.faults.report import record


def test_poison_messages_are_parked_or_failed_and_hold_up_nothing(server_stack: ServerStack, size: int) -> None:
    stack = server_stack
    size = max(10, size // 3)  # healthy jobs around the poison: enough to see nothing waits behind it
    sqs = stack.session.client("sqs")
    url = stack.runtime.queues.url_for_name("tickwork-normal")
    jobs_table = stack.session.resource("dynamodb").Table(stack.runtime.settings.jobs_table)
    admin, owner = token("admin"), token("store_owner", stores=["store-f"])
    http = Client(app_module.app).http

    sqs.send_message(QueueUrl=url, MessageBody="{not json")
    [deleted_id] = stack.schedule(1, "plugin:fault-kit:effect", payload={}, idempotency_key="deleted")
    deleted_item = jobs_table.get_item(Key={"id": deleted_id})["Item"]
    jobs_table.delete_item(Key={"id": deleted_id})
    [looping_id] = stack.schedule(1, "plugin:fault-kit:crash-loop", payload={}, maxRetries=2)
    healthy = stack.schedule(size, "plugin:fault-kit:effect", payload={})

    stack.workers.start(2, "normal")
    stack.until(lambda: stack.count_in(JobStatus.COMPLETED) == size, 60 + size)
    stack.until(lambda: stack.count_in(JobStatus.FAILED) == 1, 60)
    looping = stack.runtime.store.get(looping_id)
    assert looping is not None and looping.status == JobStatus.FAILED
    assert looping.error == "The worker stopped (crash or timeout) during attempt 3 of 3; no retries left."
    stack.until(stack.queue_settled, 30)
    assert stack.queue_depth()["dead_letter"] == 2  # one copy each, however often their batch died
    parked = http.get("/api/admin/dead-letters", headers=auth(admin)).json_body["dead_letters"]
    assert sorted(letter["reason"] for letter in parked) == ["job not found", "unreadable message body"]
    assert_error(http.get("/api/admin/dead-letters", headers=auth(owner)), 403, "admin_only")
    assert_error(http.post("/api/admin/dead-letters/redrive", headers=auth(owner), body="{}"), 403, "admin_only")
    kills_while_looping = stack.workers.died + len([p for p in stack.workers.procs if p.poll() is not None])

    # The fix is deployed (new workers), the deleted job restored from a backup; then both ways back.
    stack.workers.kill_all()
    stack.workers.env[kit.FIXED_ENV] = "1"
    stack.workers.start(2, "normal")
    jobs_table.put_item(Item=deleted_item)
    retried = http.post(f"/api/background-jobs/{looping_id}/retry", headers=auth(admin), body="{}")
    assert retried.status_code == 202 and retried.json_body["job"]["status"] == "pending"
    answer = http.post("/api/admin/dead-letters/redrive", headers=auth(admin), body=json.dumps({"priority": "normal"}))
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["moved"] == {"normal": 2} and answer.json_body["total"] == 2
    stack.until(lambda: stack.count_in(JobStatus.COMPLETED) == size + 2, 60)
    # The unreadable one is read again, and parked again: no code can run it.
    stack.until(lambda: stack.queue_depth()["dead_letter"] == 1, 30)

    record(
        f"poison (with {size} healthy jobs)",
        healthy_completed=sum(1 for i in healthy if stack.runtime.store.get(i).status == JobStatus.COMPLETED),
        crash_loop_processes_killed=kills_while_looping,
        crash_loop_attempts=looping.attempts,
        parked_in_dlq=2,
        redriven=answer.json_body["total"],
        back_and_completed=2,
        still_parked=stack.queue_depth()["dead_letter"],
    )
    assert stack.runtime.store.get(looping_id).status == JobStatus.COMPLETED
    assert stack.runtime.store.get(deleted_id).status == JobStatus.COMPLETED
