"""The import, in parallel: one job splits the catalogue into chunks, each chunk an import job of
a batch; the batch's progress is the import's, and its on_complete records the summary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.batches.model import MAX_CHILDREN, SUMMARY_KEY
from chalicelib.jobs.base import BaseJobHandler
from plugins.my_plugin.jobs.import_job import MAX_ITEMS

IMPORT_TYPE = "plugin:my-plugin:import"
PARALLEL_IMPORT_TYPE = "plugin:my-plugin:parallel-import"
SUMMARY_TYPE = "plugin:my-plugin:import-summary"


class ParallelImportPayload(BaseModel):
    """``count`` items of ``source``'s catalogue, imported ``chunk_size`` at a time by jobs of one batch."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="external-api", max_length=256)
    count: int = Field(ge=1, le=MAX_ITEMS)
    chunk_size: int = Field(default=500, ge=1, le=MAX_ITEMS)
    filters: dict[str, Any] = Field(default_factory=dict)
    priority: str = Field(default="normal", pattern="^(urgent|high|normal|low)$")
    item_ms: float = Field(default=0, ge=0, le=1000)  # passed on to each chunk (import_job.py)


class SummaryPayload(BaseModel):
    """What the batch hands its on_complete: the import's source, and the batch's summary."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="external-api", max_length=256)
    count: int = Field(default=0, ge=0, le=MAX_ITEMS)
    batch: dict[str, Any] | None = None


class ParallelImportJob(BaseJobHandler):
    """Splits the import into chunks, scheduled as one batch; ends once they are scheduled."""

    description = "Import a catalogue in parallel: chunks of chunk_size items, one batch."

    def execute(self) -> dict[str, Any]:
        payload = self.job.payload
        count, size = int(payload["count"]), int(payload.get("chunk_size") or 500)
        chunks = [(start, min(count, start + size)) for start in range(0, count, size)]
        if len(chunks) > MAX_CHILDREN:
            raise ValueError(f"{len(chunks)} chunks: at most {MAX_CHILDREN} a batch; raise chunk_size")
        source = payload.get("source", "external-api")
        children = [
            {
                "type": IMPORT_TYPE,
                "priority": payload.get("priority", "normal"),
                "payload": {
                    "source": source,
                    "filters": payload.get("filters") or {},
                    "count": count,
                    "start": start,
                    "stop": stop,
                    **({"item_ms": payload["item_ms"]} if payload.get("item_ms") else {}),
                },
                "metadata": {"parallel_import": self.job.id},
            }
            for start, stop in chunks
        ]
        self.update_progress(50, f"Scheduling {len(chunks)} chunks of {size} items...")
        batch = self.schedule_batch(
            children,
            on_complete={"type": SUMMARY_TYPE, "payload": {"source": source, "count": count}},
            description=f"import of {count} items from {source}, {size} at a time",
        )
        self.log(f"Batch {batch['id']}: {len(chunks)} chunks")
        return {"batch_id": batch["id"], "chunks": len(chunks)}


class ImportSummaryJob(BaseJobHandler):
    """The parallel import's on_complete: adds up its chunks' results and keeps them as its own."""

    description = "Record a parallel import's totals once every chunk has ended."

    def execute(self) -> dict[str, Any]:
        batch = self.job.payload[SUMMARY_KEY]
        batches = runtime.current().batches
        principal = self.job.acting_rights.principal
        totals = {"total": 0, "successful": 0, "failed": 0}
        token: str | None = None
        while True:
            page = batches.children(batch["id"], principal, status=None, limit=100, next_token=token)
            for chunk in batches.jobs.store.shown(page.jobs):
                for name in totals:
                    totals[name] += int((chunk.result or {}).get(name, 0)) if isinstance(chunk.result, dict) else 0
            token = page.next_token
            if token is None:
                break
        summary = {
            "source": self.job.payload.get("source"),
            "batch_id": batch["id"],
            "chunks": batch["total"],
            "chunks_completed": batch["completed"],
            "chunks_failed": batch["failed"],
            "chunks_cancelled": batch["cancelled"],
            **totals,
        }
        self.log(f"Import from {summary['source']}: {totals['successful']} of {totals['total']} imported")
        return summary
