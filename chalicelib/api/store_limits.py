"""``/api/admin/stores/{store_id}/limits``: how many jobs a store, and each of its plugins, may run at once (admin).

The answer also says what of the store is paused (chalicelib/api/store_pauses.py).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.dead_letters import require_admin
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import Envelope
from chalicelib.errors import ConflictError, StaleWriteError
from chalicelib.jobs.model import parse_model, require_id
from chalicelib.stores.slots import StoreLimits, pause_of

bp = Blueprint(__name__)

MAX_CAP = 1000
# Reads and conditional writes of one store's limits before a PUT gives up (409).
SET_ATTEMPTS = 3


class LimitsRequest(BaseModel):
    """The store's own caps; null (or left out) goes back to the platform's default. 0 runs nothing."""

    model_config = ConfigDict(extra="forbid")

    max_running: int | None = Field(default=None, ge=0, le=MAX_CAP)
    max_running_per_plugin: int | None = Field(default=None, ge=0, le=MAX_CAP)


class LimitsView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: str
    max_running: int | None = Field(description="The store's own cap; null: the default.")
    max_running_per_plugin: int | None = Field(description="Its own per-plugin cap; null: the default.")
    effective_max_running: int
    effective_max_running_per_plugin: int
    running: int = Field(description="Slots its jobs hold now.")
    waiting: int = Field(description="About how many of its jobs wait for a slot.")
    paused: bool = Field(description="The store is paused: none of its jobs start, its cron jobs do not fire.")
    paused_plugins: list[str] = Field(description="Plugins paused in this store, sorted.")


class LimitsAnswer(Envelope):
    limits: LimitsView


def limits_view(store_id: str, state: dict[str, Any] | None = None) -> dict[str, object]:
    """The store's limits and pause; ``state``: its item as just written (read when None)."""
    slots = runtime.current().store_slots
    if state is None:
        state = slots.state(store_id)
    caps = slots.caps_of(state)
    pause = pause_of(state)
    return LimitsView(
        store_id=store_id,
        max_running=None if state.get("max_running") is None else int(state["max_running"]),
        max_running_per_plugin=(
            None if state.get("max_running_per_plugin") is None else int(state["max_running_per_plugin"])
        ),
        effective_max_running=caps.store,
        effective_max_running_per_plugin=caps.plugin,
        running=max(0, int(state.get("running", 0))),
        waiting=max(0, int(state.get("waiting", 0))),
        paused=pause.store,
        paused_plugins=sorted(pause.plugins),
    ).model_dump()


@endpoint(
    bp,
    "/admin/stores/{store_id}/limits",
    ["GET"],
    summary="A store's caps on jobs running at once, and what its jobs hold now (admin).",
    response=LimitsAnswer,
    errors=(400, 403),
)
def get_limits(call: Call, store_id: str) -> Response:
    require_admin(call)
    return ok({"limits": limits_view(require_id(store_id))})


@endpoint(
    bp,
    "/admin/stores/{store_id}/limits",
    ["PUT"],
    summary="Set a store's caps on jobs running at once; they hold for every worker's next batch (admin).",
    body=LimitsRequest,
    response=LimitsAnswer,
    errors=(400, 403, 409),
)
def put_limits(call: Call, store_id: str) -> Response:
    require_admin(call)
    store_id = require_id(store_id)
    request = parse_model(LimitsRequest, call.json_body())
    slots = runtime.current().store_slots
    for _ in range(SET_ATTEMPTS):
        current = slots.limits(store_id)
        try:
            slots.set_limits(
                store_id, StoreLimits(request.max_running, request.max_running_per_plugin, current.version)
            )
        except StaleWriteError:
            continue
        return ok({"limits": limits_view(store_id)})
    raise ConflictError(f"Store {store_id}'s limits kept changing; try again.", code="write_contention")
