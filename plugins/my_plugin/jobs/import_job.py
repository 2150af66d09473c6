"""The guide's MyImportJob: fetch items, import each, report progress, return counts."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.jobs.base import BaseJobHandler

MAX_ITEMS = 100_000


class ImportPayload(BaseModel):
    """What the guide sends: ``source``, ``importType``, ``filters``; ``items`` or ``count`` feed it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    source: str = Field(default="external-api", max_length=256)
    importType: str = Field(default="products", max_length=64)  # noqa: N815 - the guide's spelling
    filters: dict[str, Any] = Field(default_factory=dict)
    items: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_ITEMS)
    count: int | None = Field(default=None, ge=0, le=MAX_ITEMS)
    # A slice of the catalogue, [start, stop): one chunk of a parallel import (parallel_import.py).
    start: int | None = Field(default=None, ge=0, le=MAX_ITEMS)
    stop: int | None = Field(default=None, ge=0, le=MAX_ITEMS)
    # The external system's latency per item, simulated (bench/parallel_import.py): 0 by default.
    item_ms: float = Field(default=0, ge=0, le=1000)


class ItemImportError(Exception):
    """Raised when one item cannot be imported; the job counts it and goes on."""


class MyImportJob(BaseJobHandler):
    """Imports a batch of items from an external source, with progress."""

    def execute(self) -> dict[str, Any]:
        payload = self.job.payload
        source = payload.get("source", "external-api")
        items = self.fetch_data_from_api(source, payload.get("filters") or {})
        # Resumed (a fresh invocation after a long run, or a retry after a crash): go on from
        # the last checkpoint instead of importing everything again.
        saved = self.checkpoint_state or {}
        start = int(saved.get("next", 0))
        results = saved.get("results") or {"total": len(items), "successful": 0, "failed": 0}
        if start == 0:
            self.log(f"Starting import from {source}")
            self.update_progress(10, "Fetching data...")
            self.update_progress(50, f"Processing {len(items)} items...")
        else:
            self.log(f"Resuming import from {source} at item {start + 1}/{len(items)}")
        for i in range(start, len(items)):
            item = items[i]
            try:
                self.import_item(item)
                results["successful"] += 1
                progress = 50 + (i / len(items)) * 45
                self.update_progress(round(progress), f"Importing: {item.get('name')} ({i + 1}/{len(items)})")
            except ItemImportError as error:
                results["failed"] += 1
                self.log(f"Failed to import {item.get('name')}: {error}")
            self.checkpoint({"next": i + 1, "results": results})
        self.update_progress(100, "Import completed")
        return results

    def fetch_data_from_api(self, source: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """The items given in the payload, or ``count`` items of the source's catalogue, filtered."""
        payload = self.job.payload
        if payload.get("items") is not None:
            items = list(payload["items"])
        else:
            category = filters.get("category", "general")
            count = int(payload.get("count") or 0)
            start = int(payload.get("start") or 0)
            stop = min(count, int(payload["stop"])) if payload.get("stop") is not None else count
            items = [
                {"sku": f"{source}-{n:06d}", "name": f"{category} item {n}", "category": category}
                for n in range(start, stop)
            ]
        return [item for item in items if all(item.get(k, v) == v for k, v in filters.items())]

    def import_item(self, item: dict[str, Any]) -> None:
        if self.job.payload.get("item_ms"):
            time.sleep(float(self.job.payload["item_ms"]) / 1000)
        if not item.get("name"):
            raise ItemImportError("item has no name")
        if item.get("fail"):
            raise ItemImportError(str(item["fail"]))
