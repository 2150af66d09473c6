"""DELETE /api/admin/stores/{store_id}/data: a store's erasure deletes exactly its data, resumes
after a crash and across short invocations, and is refused to everyone but an admin.

The two stores are ``store-a`` and ``store-ab``: every name of B starts with A's, so a prefix
match that forgot the folder's closing slash would erase B too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.jobs.erasure import erasure_job_id
from chalicelib.jobs.lifecycle import JobStatus
from tests import handlers
from tests.conftest import Stack, assert_error, auth, built_stack, token
from tests.kit import create_cron, drain_until, invoke_until_empty

A, B = "store-a", "store-ab"
LARGE = "p" * 2048  # past the inline threshold: the payload lives in S3


def erase(stack: Stack, tok: str, store_id: str = A) -> Any:
    return stack.client.http.delete(f"/api/admin/stores/{store_id}/data", headers=auth(tok))


def fill(stack: Stack, admin: str, store_id: str) -> None:
    """A store's data of every kind: finished jobs with log lines and S3 objects, a pending job,
    a cron job and its run, SSM parameters and Secrets Manager secrets in its folders."""
    stack.schedule(admin, storeId=store_id, type="plugin:test-kit:chatty", payload={"lines": 3, "pad": LARGE})
    stack.schedule(admin, storeId=store_id, type="plugin:test-kit:chatty", payload={"lines": 1})
    stack.schedule(admin, storeId=store_id, delay=3600)  # pending: cancelled, then deleted
    # A window's item names its job, a batch's item holds its description and callbacks.
    stack.schedule(admin, storeId=store_id, debounce={"key": "product-1", "seconds": 600})  # pending
    stack.schedule(admin, storeId=store_id, dedup={"key": "order-1", "seconds": 600})
    child = {"type": "plugin:my-plugin:import", "payload": {"count": 1}}
    batch = {"store_id": store_id, "jobs": [child, child], "on_complete": child, "description": "two"}
    assert stack.post("/api/background-jobs/batches", batch, admin).status_code == 201
    # A yearly slot: no run but the run-now fires while the test runs on the real clock.
    cron = create_cron(stack, admin, store_id=store_id, cron_expression="0 0 1 1 *", configuration={"pad": LARGE})
    assert stack.post(f"/api/cron-jobs/{cron['id']}/run", {}, admin).status_code == 202
    stack.poller.drain()
    ssm, secrets = stack.session.client("ssm"), stack.session.client("secretsmanager")
    for name in ("api-key", "deep/nested/key"):
        ssm.put_parameter(Name=f"/tickwork/dev/stores/{store_id}/{name}", Value="v", Type="SecureString")
        secrets.create_secret(Name=f"tickwork/dev/stores/{store_id}/{name}", SecretString="v")


def snapshot(stack: Stack) -> dict[str, Any]:
    """Everything the stage keeps, by kind: items by id, object keys, parameter and secret names."""
    resource = stack.session.resource("dynamodb")
    s3 = stack.session.client("s3")
    listed = s3.list_objects_v2(Bucket=stack.runtime.settings.values_bucket).get("Contents", [])
    ssm = stack.session.client("ssm").describe_parameters(MaxResults=50)["Parameters"]
    secrets = stack.session.client("secretsmanager").list_secrets(MaxResults=100)["SecretList"]
    return {
        "jobs": {item["id"]: item for item in resource.Table("tickwork-jobs").scan()["Items"]},
        "cron_jobs": {item["id"]: item for item in resource.Table("tickwork-cron-jobs").scan()["Items"]},
        "objects": {entry["Key"] for entry in listed},
        "parameters": {entry["Name"] for entry in ssm},
        "secrets": {entry["Name"] for entry in secrets},
    }


def owned_by(world: dict[str, Any], store_id: str) -> dict[str, set[str]]:
    """What of ``world`` is the store's: its jobs with their log items and objects, cron jobs, secrets."""
    jobs = {job_id for job_id, item in world["jobs"].items() if item.get("store_id") == store_id}
    windows = {key for key in world["jobs"] if key.startswith((f"debounce#{store_id}#", f"dedup#{store_id}#"))}
    batches = {key for key, item in world["jobs"].items() if item.get("batch_store") == store_id}
    return {
        "jobs": jobs | {f"joblogs#{job_id}" for job_id in jobs} & set(world["jobs"]) | windows | batches,
        "cron_jobs": {cron_id for cron_id, item in world["cron_jobs"].items() if item["store_id"] == store_id},
        "objects": {key for key in world["objects"] if key.split("/")[1] in jobs},
        "parameters": {name for name in world["parameters"] if name.startswith(f"/tickwork/dev/stores/{store_id}/")},
        "secrets": {name for name in world["secrets"] if name.startswith(f"tickwork/dev/stores/{store_id}/")},
    }


PLATFORM_BOOKKEEPING = ("ratelimit#", "store#", "stats#", "tick#")


def assert_erased_exactly(before: dict[str, Any], after: dict[str, Any], erase_id: str) -> None:
    mine = owned_by(before, A)
    assert all(mine.values()), mine  # the world holds something of each kind to erase
    for kind in ("jobs", "cron_jobs"):
        # B's items unchanged, A's gone, nothing else new but the erase job, its lines and the
        # platform's bookkeeping: rate-limit counters, each store's running-jobs count (store#...),
        # the overview's counters (stats#...) and the tick's heartbeat change as jobs run.
        kept = {
            key: value
            for key, value in before[kind].items()
            if key not in mine[kind] and not key.startswith(PLATFORM_BOOKKEEPING)
        }
        new = {key for key in set(after[kind]) - set(kept) if not key.startswith(PLATFORM_BOOKKEEPING)}
        assert new <= {erase_id, f"joblogs#{erase_id}"}, new
        assert {key: after[kind][key] for key in kept} == kept
    for kind in ("objects", "parameters", "secrets"):
        assert after[kind] == before[kind] - mine[kind], kind


@pytest.fixture
def two_stores(stack: Stack, admin: str) -> Iterator[Stack]:
    fill(stack, admin, A)
    fill(stack, admin, B)
    ssm, secrets = stack.session.client("ssm"), stack.session.client("secretsmanager")
    # Near misses: another case, another stage, the platform's own.
    secrets.create_secret(Name="tickwork/dev/stores/STORE-A/key", SecretString="v")
    ssm.put_parameter(Name="/tickwork/prod/stores/store-a/key", Value="v", Type="String")
    ssm.put_parameter(Name="/tickwork/dev/jwt-secret", Value="v", Type="SecureString")
    yield stack


def test_an_erase_deletes_exactly_the_stores_data_and_reports_it(two_stores: Stack, admin: str) -> None:
    stack = two_stores
    before = snapshot(stack)
    answer = erase(stack, admin)
    assert answer.status_code == 202, answer.json_body
    job = answer.json_body["job"]
    assert job["id"] == erasure_job_id(A) and job["store_id"] == "platform" and answer.json_body["created"]
    stack.poller.drain()
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    mine = owned_by(before, A)
    assert done.result == {
        "store_id": A,
        "deleted": {
            "cron_jobs": 1,
            # two finished, one cancelled pending, one cron run, a debounced (pending) and a
            # deduplicated job, a batch's two children and its on_complete
            "jobs": 9,
            "log_items": 6,  # the two chatty jobs' and the four imports' that ran
            "objects": len(mine["objects"]),
            "parameters": 2,
            "secrets": 2,
            "windows": 2,
            "batches": 1,
        },
        "left_running": [],
        "cron_jobs_left": 0,
        "not_tracked": 0,
        "complete": True,
    }
    assert_erased_exactly(before, snapshot(stack), job["id"])


def test_a_running_job_is_cancelled_named_in_the_report_and_erased_by_the_next_request(
    stack: Stack, admin: str
) -> None:
    fill(stack, admin, A)
    running = stack.schedule(admin, storeId=A, type="plugin:test-kit:flaky")
    store = stack.runtime.store
    lease = dict(now="2026-01-01T00:00:00.000000Z", lease_until="2099-01-01T00:00:00.000000Z")
    store.claim(stack.job(running["id"]), lease_token="w", **lease)  # a worker holds it
    erase(stack, admin)
    stack.poller.drain()
    first = stack.job(erasure_job_id(A))
    assert first.result["left_running"] == [running["id"]] and first.result["complete"] is False
    assert stack.job(running["id"]).status == JobStatus.CANCELLING
    # While it runs, a second request answers the same job; once it has finished, it runs again.
    store.finish(running["id"], lease_token="w", status=JobStatus.CANCELLED, now=lease["now"])
    again = erase(stack, admin)
    assert again.status_code == 202 and again.json_body["created"] is True
    assert again.json_body["job"]["id"] == first.id and again.json_body["job"]["status"] == "pending"
    assert erase(stack, admin).json_body == {**again.json_body, "created": False}
    stack.poller.drain()
    second = stack.job(first.id)
    assert second.result["complete"] is True and second.result["deleted"]["jobs"] == 1
    assert store.get(running["id"]) is None


def test_a_small_page_budget_spreads_the_erase_over_several_invocations(two_stores: Stack, admin: str) -> None:
    stack = two_stores
    before = snapshot(stack)
    job = stack.schedule(admin, type="erase_store", payload={"store_id": A, "page_size": 1}, maxRetries=0)
    invocations = invoke_until_empty(stack, checks=4)
    done = stack.job(job["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    assert invocations >= 4 and done.continuations == invocations - 1 and done.attempts == 1
    # Each continuation resumed from its checkpoint: nothing was counted twice or missed.
    assert done.result["deleted"] == {
        "cron_jobs": 1,
        "jobs": 9,
        "log_items": 6,
        "objects": len(owned_by(before, A)["objects"]),
        "parameters": 2,
        "secrets": 2,
        "windows": 2,
        "batches": 1,
    }
    assert_erased_exactly(before, snapshot(stack), job["id"])


class Crash:
    """Kills the process at its ``at``-th DeleteItem once armed: that call and every later one die,
    as a killed process makes no call at all, until ``restart``."""

    def __init__(self) -> None:
        self.at: int | None = None
        self.deletes = 0
        self.dead = False

    def __call__(self, model: Any, **_: Any) -> None:
        if self.at is None:
            return
        if model.name == "DeleteItem":
            self.deletes += 1
            self.dead = self.dead or self.deletes >= self.at
        if self.dead:
            raise handlers.SimulatedCrash()

    def arm(self, at: int) -> None:
        self.at, self.deletes, self.dead = at, 0, False

    def restart(self) -> None:
        self.at, self.dead = None, False


@pytest.fixture
def crash() -> Crash:
    return Crash()


@pytest.fixture
def quick_stack(settings: Settings, admin: str, crash: Crash) -> Iterator[Stack]:
    """Leases of a second, so a killed attempt's message comes back at once; every checkpoint saved."""
    with built_stack(dataclasses.replace(settings, lease_s=1, progress_interval_s=0.0)) as stack:
        # Before the runtime makes its clients: a client sees only the hooks its session had then.
        stack.session.events.register("before-call", crash)
        fill(stack, admin, A)
        fill(stack, admin, B)
        yield stack


def test_an_erase_killed_mid_way_resumes_from_its_checkpoint(quick_stack: Stack, admin: str, crash: Crash) -> None:
    stack = quick_stack
    before = snapshot(stack)
    job = stack.schedule(admin, type="erase_store", payload={"store_id": A, "page_size": 1})
    crash.arm(at=5)  # in the jobs phase: the cron job went, and a job or two
    with pytest.raises(handlers.SimulatedCrash):
        stack.poller.poll_once()
    crash.restart()
    killed = stack.job(job["id"])
    assert killed.status == JobStatus.RUNNING and killed.checkpoint["phase"] == "jobs"
    assert killed.checkpoint["deleted"]["cron_jobs"] == 1
    drain_until(stack, lambda: stack.job(job["id"]).status == JobStatus.COMPLETED)
    done = stack.job(job["id"])
    assert done.attempts == 2 and done.result["complete"] is True
    assert done.result["deleted"]["cron_jobs"] == 1  # counted before the crash, and not again
    assert_erased_exactly(before, snapshot(stack), job["id"])


# --- who may ask, and for what -----------------------------------------------------------------


@pytest.mark.parametrize(
    "tok",
    [
        token("store_owner", stores=[A], sub="owner-a"),
        token("plugin", stores=[A], plugin_id="plugin-p", sub="plugin-p"),
        token("store_owner", stores=["platform"], sub="claims-platform"),
    ],
    ids=["owner", "plugin", "platform-claimer"],
)
def test_a_tenant_may_not_erase_even_its_own_store(two_stores: Stack, tok: str) -> None:
    stack = two_stores
    before = snapshot(stack)
    assert_error(erase(stack, tok), 403, "admin_only")
    assert_error(erase(stack, tok, "platform"), 403, "admin_only")
    assert stack.runtime.store.get(erasure_job_id(A)) is None
    assert snapshot(stack) == before


@pytest.mark.parametrize(
    ("store_id", "status", "code"),
    [
        ("platform", 400, "reserved_store"),
        ("-leading-dash", 400, "validation_error"),
        # As chalice.test passes it (API Gateway would hand over "#", which fails the same check).
        ("ratelimit%23store-a%23202611281200", 400, "validation_error"),
        ("x" * 129, 400, "validation_error"),
        ("a%2Fb", 400, "validation_error"),
        ("white%20space", 400, "validation_error"),
        ("", 400, "validation_error"),
    ],
)
def test_a_bad_store_id_is_a_4xx_with_a_code(stack: Stack, admin: str, store_id: str, status: int, code: str) -> None:
    assert_error(erase(stack, admin, store_id), status, code)


def test_the_erase_type_is_refused_for_the_platform_store(stack: Stack, admin: str) -> None:
    body = {"type": "erase_store", "payload": {"store_id": "platform"}}
    assert_error(stack.post("/api/background-jobs/schedule", body, admin), 400, "validation_error")
