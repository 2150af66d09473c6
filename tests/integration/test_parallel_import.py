"""The parallel import: a job splits the catalogue into a batch of chunk imports through
``schedule_batch``; the batch's progress is the import's and its on_complete adds up the chunks."""

from __future__ import annotations

from tests.conftest import Stack, token

OWNER = token("store_owner", stores=["store-a"])
PLUGIN = token("plugin", stores=["store-a"], plugin_id="my-plugin")


def test_a_parallel_import_runs_its_chunks_as_a_batch_and_records_the_summary(stack: Stack) -> None:
    body = {
        "type": "plugin:my-plugin:parallel-import",
        "store_id": "store-a",
        "payload": {"count": 1000, "chunk_size": 150},
    }
    parent = stack.post("/api/background-jobs/schedule", body, PLUGIN).json_body["job"]
    stack.poller.drain()
    parent = stack.get(f"/api/background-jobs/{parent['id']}", PLUGIN).json_body["job"]
    assert parent["status"] == "completed" and parent["result"]["chunks"] == 7
    batch_id = parent["result"]["batch_id"]
    for _ in range(3):
        stack.poller.drain()
    batch = stack.get(f"/api/background-jobs/batches/{batch_id}", PLUGIN).json_body["batch"]
    assert (batch["status"], batch["completed"], batch["progress"]) == ("succeeded", 7, 100)
    assert batch["plugin_id"] == "my-plugin"
    # The plugin's batch is the plugin's own: the store's owner sees it too, another plugin does not.
    assert stack.get(f"/api/background-jobs/batches/{batch_id}", OWNER).status_code == 200
    other = token("plugin", stores=["store-a"], plugin_id="other-plugin")
    assert stack.get(f"/api/background-jobs/batches/{batch_id}", other).status_code == 404
    listed = stack.get("/api/background-jobs?store_id=store-a&limit=100", PLUGIN).json_body["jobs"]
    [summary] = [job for job in listed if job["type"] == "plugin:my-plugin:import-summary"]
    assert summary["status"] == "completed"
    assert summary["result"]["total"] == 1000 and summary["result"]["successful"] == 1000
    assert summary["result"]["chunks_completed"] == 7


def test_a_handler_that_runs_again_gets_the_batch_it_made(stack: Stack) -> None:
    from chalicelib.jobs.base import BaseJobHandler
    from chalicelib.runtime import registry

    made: list[str] = []

    class TwiceJob(BaseJobHandler):
        def execute(self) -> dict[str, str]:
            first = self.schedule_batch([{"type": "plugin:my-plugin:import", "payload": {"count": 1}}])
            again = type(self)(self.job, self._context).schedule_batch(
                [{"type": "plugin:my-plugin:import", "payload": {"count": 1}}]
            )
            made.extend([first["id"], again["id"]])
            return {"batch": first["id"]}

    registry.register("plugin:test-kit:batch-twice", TwiceJob)
    stack.schedule(OWNER, type="plugin:test-kit:batch-twice", payload={})
    stack.poller.drain()
    assert len(made) == 2 and made[0] == made[1]


def test_a_handlers_batch_has_the_rights_of_the_jobs_creator(stack: Stack) -> None:
    from chalicelib.jobs.base import BaseJobHandler
    from chalicelib.runtime import registry

    outcome: dict[str, str] = {}

    class ReachingJob(BaseJobHandler):
        def execute(self) -> None:
            try:
                self.schedule_batch([{"type": "cleanup", "payload": {"statuses": ["completed"]}}])
            except Exception as error:  # the test records what the handler met
                outcome["error"] = getattr(error, "code", type(error).__name__)

    registry.register("plugin:test-kit:batch-reach", ReachingJob)
    stack.schedule(OWNER, type="plugin:test-kit:batch-reach", payload={})
    stack.poller.drain()
    # The store owner who created the job may not run an admin-only type: nor may its batch.
    assert outcome["error"] == "admin_only_type"
