"""The guide's full example, "inventory-sync": a sync job type, its route, and its daily cron."""

from __future__ import annotations

from chalicelib.jobs.manager import JobManager
from plugins.inventory_sync import routes
from plugins.inventory_sync.jobs.sync_job import InventorySyncJob, SyncPayload

PLUGIN_NAME = "inventory-sync"
PLUGIN_ID = routes.PLUGIN_ID
FULL_SYNC_TYPE = routes.FULL_SYNC_TYPE

blueprints = [routes.bp]


def initialize_plugin(job_manager: JobManager) -> None:
    job_manager.register_job_type(FULL_SYNC_TYPE, InventorySyncJob, payload_model=SyncPayload)
    # The guide's createDailySyncJob: declared, so the scheduler creates it once (no duplicate
    # on restart) instead of every container POSTing it at start-up.
    job_manager.declare_cron_job(
        PLUGIN_NAME,
        "daily-sync",
        name="Daily Inventory Sync",
        description="Syncs inventory with supplier API every day at 3 AM",
        cron_expression="0 3 * * *",
        job_type="api_call",
        configuration={"url": "/api/inventory-sync/run", "method": "POST"},
        plugin_id=PLUGIN_ID,
        is_active=True,
    )


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
