"""A full inventory sync: reconcile stock levels against a supplier feed."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.jobs.base import BaseJobHandler


class SupplierLine(BaseModel):
    sku: str = Field(min_length=1, max_length=128)
    quantity: int = Field(ge=0)


class SyncPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    storeId: str = Field(min_length=1, max_length=128)  # noqa: N815 - the guide's spelling
    syncType: Literal["full", "delta"] = "full"  # noqa: N815
    current: dict[str, int] = Field(default_factory=dict, description="stock levels now, by SKU")
    supplier: list[SupplierLine] = Field(default_factory=list, max_length=50_000)


class InventorySyncJob(BaseJobHandler):
    """Compares the store's stock with the supplier feed and reports what changes."""

    def execute(self) -> dict[str, Any]:
        payload = SyncPayload.model_validate(self.job.payload)
        self.update_progress(0, f"Starting {payload.syncType} sync for {payload.storeId}")
        updated: dict[str, int] = {}
        total = len(payload.supplier)
        for i, line in enumerate(payload.supplier):
            if payload.current.get(line.sku) != line.quantity:
                updated[line.sku] = line.quantity
            self.update_progress(round(100 * (i + 1) / total) if total else 100, f"Checked {i + 1}/{total}")
        removed = sorted(set(payload.current) - {line.sku for line in payload.supplier})
        if payload.syncType == "full":
            for sku in removed:
                self.log(f"{sku} no longer offered by the supplier")
        self.update_progress(100, "Sync completed")
        return {"checked": total, "updated": updated, "discontinued": removed if payload.syncType == "full" else []}
