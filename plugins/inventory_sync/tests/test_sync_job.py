"""The inventory sync job, run inline with the test kit: no AWS, no stack."""

from __future__ import annotations

from pydantic import ValidationError

from plugins.inventory_sync.jobs.sync_job import InventorySyncJob, SyncPayload
from tickwork_testing import RunStatus, run_handler

SUPPLIER = [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 0}, {"sku": "C", "quantity": 7}]


def test_a_full_sync_reports_changes_and_discontinued_skus() -> None:
    payload = {"storeId": "store-1", "current": {"A": 5, "B": 3, "D": 1}, "supplier": SUPPLIER}
    run = run_handler(InventorySyncJob, payload=payload, payload_model=SyncPayload)
    assert run.status == RunStatus.COMPLETED
    assert run.result == {"checked": 3, "updated": {"B": 0, "C": 7}, "discontinued": ["D"]}
    assert run.log_messages == ["D no longer offered by the supplier"]
    assert [call.percent for call in run.progress_calls] == [0, 33, 67, 100, 100]


def test_a_delta_sync_reports_no_discontinued_skus() -> None:
    payload = {"storeId": "store-1", "syncType": "delta", "current": {"Z": 1}, "supplier": SUPPLIER}
    run = run_handler(InventorySyncJob, payload=payload, payload_model=SyncPayload)
    assert run.result["discontinued"] == [] and run.logs == []


def test_an_empty_feed_completes_at_once() -> None:
    run = run_handler(InventorySyncJob, payload={"storeId": "store-1"}, payload_model=SyncPayload)
    assert run.result == {"checked": 0, "updated": {}, "discontinued": []}


def test_a_cancelled_sync_keeps_no_result() -> None:
    payload = {"storeId": "store-1", "supplier": SUPPLIER}
    run = run_handler(InventorySyncJob, payload=payload, payload_model=SyncPayload, cancel_at_progress=2)
    assert run.status == RunStatus.CANCELLED and run.result is None
    assert run.progress_calls[-1].message == "Checked 1/3"


def test_a_payload_scheduled_without_the_model_fails_the_attempt() -> None:
    # The handler re-validates: a job stored before the model changed fails with the field named.
    run = run_handler(InventorySyncJob, payload={"storeId": "store-1", "supplier": [{"sku": ""}]})
    assert run.status == RunStatus.FAILED
    assert isinstance(run.exception, ValidationError)
    assert "supplier.0.sku" in (run.error or "")
