"""``/api/admin/stores`` and ``/api/admin/stores/{store_id}/load``: each store's load (admin only)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.docs import LIMIT, NEXT_TOKEN
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import Envelope
from chalicelib.errors import ForbiddenError
from chalicelib.jobs.model import require_id
from chalicelib.stores.backlog import age_s
from chalicelib.stores.listing import list_stores, store_id_of
from chalicelib.stores.slots import StoreSlots

bp = Blueprint(__name__)


class StoreLoadView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: str
    running: int = Field(description="Slots its jobs hold now.")
    effective_max_running: int = Field(description="Its cap on jobs running at once (its own or the default).")
    waiting: int = Field(description="About how many of its jobs wait for a slot (the workers' estimate).")
    mean_run_s: float | None = Field(description="How long its batches run, a weighted mean; null before the first.")
    paused: bool


class OldestWaitingView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    created_at: str
    waiting_since: str = Field(description="When it became due: its scheduled time or its next attempt's.")
    age_s: int = Field(description="Seconds since waiting_since.")


class StoreBacklogView(StoreLoadView):
    backlog: int = Field(description="Its jobs pending or retrying (scheduled for later included).")
    backlog_by_status: dict[str, int]
    oldest_waiting: OldestWaitingView | None = Field(
        description="The first due, waiting job in creation order; null when none (or none found within the budget)."
    )
    exact: bool = Field(description="False when a read budget ran out: backlog is a lower bound, oldest may be later.")


class StoresAnswer(Envelope):
    stores: list[StoreLoadView]
    next_token: str | None


class StoreLoadAnswer(Envelope):
    load: StoreBacklogView


def require_admin(call: Call) -> None:
    if not call.principal.is_admin:
        raise ForbiddenError("Only an admin may read the stores' load.", code="admin_only")


def load_of(slots: StoreSlots, store_id: str, item: dict[str, Any]) -> dict[str, Any]:
    return StoreLoadView(
        store_id=store_id,
        running=max(0, int(item.get("running", 0))),
        effective_max_running=slots.caps_of(item).store,
        waiting=max(0, int(item.get("waiting", 0))),
        mean_run_s=None if item.get("mean_run_s") is None else float(item["mean_run_s"]),
        paused=bool(item.get("paused", False)),
    ).model_dump()


@endpoint(
    bp,
    "/admin/stores",
    ["GET"],
    summary="The stores that ran jobs or have limits, with what they run and wait for now (admin).",
    query=(LIMIT, NEXT_TOKEN),
    response=StoresAnswer,
    errors=(400, 403),
)
def get_stores(call: Call) -> Response:
    require_admin(call)
    current = runtime.current()
    slots = current.store_slots
    page = list_stores(
        slots, table_name=current.settings.jobs_table, limit=call.page_size(), next_token=call.query("next_token")
    )
    stores = [load_of(slots, store_id_of(item), item) for item in page.items]
    return ok({"stores": stores, "next_token": page.next_token})


@endpoint(
    bp,
    "/admin/stores/{store_id}/load",
    ["GET"],
    summary="One store's load, its backlog and its oldest waiting job (admin).",
    response=StoreLoadAnswer,
    errors=(400, 403),
)
def get_store_load(call: Call, store_id: str) -> Response:
    require_admin(call)
    store_id = require_id(store_id)
    current = runtime.current()
    slots = current.store_slots
    now = current.clock.now()
    backlog = current.store_backlog.read(store_id, now=now)
    oldest = backlog.oldest
    view = StoreBacklogView(
        **load_of(slots, store_id, slots.state(store_id)),
        backlog=backlog.total,
        backlog_by_status=backlog.counts,
        oldest_waiting=None
        if oldest is None
        else OldestWaitingView(
            id=oldest.job_id,
            created_at=oldest.created_at,
            waiting_since=oldest.waiting_since,
            age_s=age_s(oldest, now),
        ),
        exact=backlog.exact,
    )
    return ok({"load": view.model_dump()})
