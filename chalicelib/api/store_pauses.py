"""``/api/admin/stores/{store_id}/pause`` and ``/resume``, and the same for one plugin in a store (admin).

A pause stops what the store (or the plugin in it) runs: its jobs stay pending and start after
the resume, and the tick does not fire its cron jobs meanwhile (docs/architecture.md, "Pausing a
store"). The answer is the store's limits view, which shows what is paused.
"""

from __future__ import annotations

import logging

from chalice import Blueprint, Response

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.store_limits import LimitsAnswer, limits_view
from chalicelib.errors import ForbiddenError
from chalicelib.jobs.model import require_id, require_tenant_store

bp = Blueprint(__name__)
logger = logging.getLogger("tickwork.api")


def _set(call: Call, store_id: str, plugin_id: str | None, paused: bool) -> Response:
    if not call.principal.is_admin:
        raise ForbiddenError("Only an admin may pause or resume a store or a plugin in it.", code="admin_only")
    # Not a tenant: it holds the platform's own work (erasures, plugins' declared cron jobs).
    store_id = require_tenant_store(store_id, "it cannot be paused")
    if plugin_id is not None:
        plugin_id = require_id(plugin_id, "plugin_id")
    state = runtime.current().store_slots.set_paused(store_id, plugin_id, paused)
    logger.info(
        "store %s%s %s by %s",
        store_id,
        f" plugin {plugin_id}" if plugin_id else "",
        "paused" if paused else "resumed",
        call.principal.label,
    )
    return ok({"limits": limits_view(store_id, state)})


@endpoint(
    bp,
    "/admin/stores/{store_id}/pause",
    ["POST"],
    summary="Pause a store: its jobs wait, pending, and its cron jobs do not fire until it is resumed (admin).",
    response=LimitsAnswer,
    errors=(400, 403),
)
def pause_store(call: Call, store_id: str) -> Response:
    return _set(call, store_id, None, True)


@endpoint(
    bp,
    "/admin/stores/{store_id}/resume",
    ["POST"],
    summary="Resume a paused store: its waiting jobs start and its cron jobs fire from their next slot (admin).",
    response=LimitsAnswer,
    errors=(400, 403),
)
def resume_store(call: Call, store_id: str) -> Response:
    return _set(call, store_id, None, False)


@endpoint(
    bp,
    "/admin/stores/{store_id}/plugins/{plugin_id}/pause",
    ["POST"],
    summary="Pause one plugin in a store: that plugin's jobs and cron jobs there wait (admin).",
    response=LimitsAnswer,
    errors=(400, 403),
)
def pause_plugin(call: Call, store_id: str, plugin_id: str) -> Response:
    return _set(call, store_id, plugin_id, True)


@endpoint(
    bp,
    "/admin/stores/{store_id}/plugins/{plugin_id}/resume",
    ["POST"],
    summary="Resume a plugin paused in a store (admin).",
    response=LimitsAnswer,
    errors=(400, 403),
)
def resume_plugin(call: Call, store_id: str, plugin_id: str) -> Response:
    return _set(call, store_id, plugin_id, False)
