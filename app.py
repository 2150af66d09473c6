"""Wiring only: the Chalice app, its blueprints, the four queue workers, the minute tick."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib import runtime
from chalicelib.api import (
    admin_stores,
    background_jobs,
    batches,
    cron_jobs,
    dashboard,
    dead_letters,
    meta,
    openapi,
    overview,
    store_limits,
    store_load,
    store_pauses,
)
from chalicelib.api.correlation import correlate
from chalicelib.api.http import normalize_error_shape
from chalicelib.api.request_metrics import flush_metrics_after
from chalicelib.clock import from_iso
from chalicelib.config import Settings, queue_name, running_under_chalice_local
from chalicelib.jobs.builtin import register_builtin_types
from chalicelib.jobs.plugins import discover_plugins
from chalicelib.telemetry.setup import configure_logging

if running_under_chalice_local():  # see devstack/server.py
    from devstack.server import tune_chalice_local

    tune_chalice_local()

# Read at import: Chalice bakes the queue names into the event source mappings.
SETTINGS = Settings.from_env()
configure_logging(SETTINGS.log_level, on_lambda=SETTINGS.lambda_function is not None)

# Chalice's own log setup would give the "tickwork" logger a plain-text handler at ERROR that
# stops every tickwork.* line from reaching the root logger's handler.
app = Chalice(app_name="tickwork", configure_logs=False)
# Outermost: its line and header are the answer's, after the error shape below is fixed.
app.register_middleware(correlate, "http")
app.register_middleware(normalize_error_shape, "http")
app.register_middleware(flush_metrics_after, "http")  # EMF metrics, one flush per request
app.register_blueprint(meta.bp, url_prefix="/api")
app.register_blueprint(batches.bp, url_prefix="/api")  # before the job routes: /batches is no job id
app.register_blueprint(background_jobs.bp, url_prefix="/api")
app.register_blueprint(cron_jobs.bp, url_prefix="/api")
app.register_blueprint(dead_letters.bp, url_prefix="/api")  # admin: list and redrive the DLQs
app.register_blueprint(store_limits.bp, url_prefix="/api")  # admin: each store's caps on running jobs
app.register_blueprint(store_pauses.bp, url_prefix="/api")  # admin: pause and resume a store or a plugin in it
app.register_blueprint(admin_stores.bp, url_prefix="/api")  # admin: erase a store's data
app.register_blueprint(store_load.bp, url_prefix="/api")  # admin: the stores and their load
app.register_blueprint(overview.bp, url_prefix="/api")  # admin: the dashboard's charts
app.register_blueprint(openapi.bp, url_prefix="/api")  # GET /api/openapi.json, built from the routes
app.register_blueprint(dashboard.bp)  # the static page at / (public shell; data via /api)

register_builtin_types(runtime.registry)
for plugin in discover_plugins(runtime.job_manager, SETTINGS.plugins_package):
    # A plugin may serve routes of its own, under /api/<plugin-name>/ by convention.
    for blueprint in getattr(plugin, "blueprints", []):
        app.register_blueprint(blueprint, url_prefix="/api")

QUEUE_PREFIX = SETTINGS.queue_prefix
BATCH_SIZE = 10


def _work(event: Any) -> dict[str, Any]:
    # Lambda's context tells a long job how much time this invocation has left.
    return runtime.current().worker.handle_event(event.to_dict(), event.context)


@app.on_sqs_message(queue=queue_name(QUEUE_PREFIX, "urgent"), batch_size=BATCH_SIZE, name="worker_urgent")
def worker_urgent(event: Any) -> dict[str, Any]:
    return _work(event)


@app.on_sqs_message(queue=queue_name(QUEUE_PREFIX, "high"), batch_size=BATCH_SIZE, name="worker_high")
def worker_high(event: Any) -> dict[str, Any]:
    return _work(event)


@app.on_sqs_message(queue=queue_name(QUEUE_PREFIX, "normal"), batch_size=BATCH_SIZE, name="worker_normal")
def worker_normal(event: Any) -> dict[str, Any]:
    return _work(event)


@app.on_sqs_message(queue=queue_name(QUEUE_PREFIX, "low"), batch_size=BATCH_SIZE, name="worker_low")
def worker_low(event: Any) -> dict[str, Any]:
    return _work(event)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, Any]:
    # event.time is EventBridge's scheduled time: a deterministic "now" even for a late start.
    report = runtime.current().tick.run_tick(from_iso(event.time))
    return {"due": report.due, "fired": report.fired, "skipped": report.skipped, "errors": report.errors}


WORKERS = {"urgent": worker_urgent, "high": worker_high, "normal": worker_normal, "low": worker_low}
