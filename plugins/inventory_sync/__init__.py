"""The guide's full example, "inventory-sync": a sync job type (its daily cron arrives with cron jobs)."""

from __future__ import annotations

from chalicelib.jobs.manager import JobManager
from plugins.inventory_sync.jobs.sync_job import InventorySyncJob, SyncPayload

PLUGIN_NAME = "inventory-sync"
FULL_SYNC_TYPE = f"plugin:{PLUGIN_NAME}:full"


def initialize_plugin(job_manager: JobManager) -> None:
    job_manager.register_job_type(FULL_SYNC_TYPE, InventorySyncJob, payload_model=SyncPayload)


def run_sync(job_manager: JobManager, store_id: str, user_id: str | None, plugin_id: str) -> str:
    """The guide's ``runSync``: schedule a full sync for a store, return the job id."""
    job = job_manager.schedule_job(
        type=FULL_SYNC_TYPE,
        payload={"storeId": store_id, "syncType": "full"},
        priority="normal",
        store_id=store_id,
        user_id=user_id,
        metadata={"pluginId": plugin_id, "pluginName": "Inventory Sync"},
    )
    return job.id
