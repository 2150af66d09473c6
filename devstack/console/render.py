"""Plain-text views of jobs, batches and cron jobs for a terminal: tables, facts, progress bars."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

BAR_WIDTH = 30


def progress_bar(percent: Any, width: int = BAR_WIDTH) -> str:
    value = max(0, min(100, int(percent or 0)))
    filled = round(width * value / 100)
    return f"[{'#' * filled}{'-' * (width - filled)}] {value:3d}%"


def short_time(iso: Any) -> str:
    """``2026-11-29T10:52:40.123456+00:00`` -> ``2026-11-29 10:52:40Z``; empty for none."""
    if not iso:
        return "-"
    text = str(iso).replace("T", " ")
    for suffix in ("+00:00", "Z"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            return text.split(".")[0] + "Z"
    return text.split(".")[0]


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers], *[["-" if c in (None, "") else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def facts(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(name) for name, _ in pairs)
    return "\n".join(f"{name.ljust(width)}  {'-' if value in (None, '') else value}" for name, value in pairs)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def job_rows(jobs: Sequence[dict[str, Any]]) -> str:
    return table(
        [
            (
                j.get("id"),
                j.get("type"),
                j.get("status"),
                f"{int(j.get('progress') or 0)}%",
                j.get("store_id"),
                j.get("priority"),
                short_time(j.get("updated_at")),
            )
            for j in jobs
        ],
        ["ID", "TYPE", "STATUS", "PROGRESS", "STORE", "PRIORITY", "UPDATED"],
    )


def job_detail(job: dict[str, Any]) -> str:
    parts = [
        facts(
            [
                ("id", job.get("id")),
                ("type", job.get("type")),
                ("status", job.get("status")),
                ("progress", f"{progress_bar(job.get('progress'))} {job.get('progress_message') or ''}".rstrip()),
                ("priority", job.get("priority")),
                ("store", job.get("store_id")),
                ("plugin", job.get("plugin_id")),
                ("attempts", f"{job.get('attempts', 0)} of {int(job.get('max_retries') or 0) + 1}"),
                ("scheduled", short_time(job.get("scheduled_at"))),
                ("started", short_time(job.get("started_at"))),
                ("finished", short_time(job.get("completed_at"))),
                ("created by", job.get("created_by")),
                *([("next attempt", short_time(job["next_attempt_at"]))] if job.get("next_attempt_at") else []),
                *([("cron job", job["cron_job_id"])] if job.get("cron_job_id") else []),
            ]
        )
    ]
    if job.get("error"):
        parts.append(f"\nerror:\n  {job['error']}")
    if job.get("result") is not None:
        parts.append("\nresult:\n" + _indent(pretty_json(job["result"])))
    parts.append("\npayload:\n" + _indent(pretty_json(job.get("payload") or {})))
    logs = job.get("logs")
    if logs is not None:
        parts.append(f"\nlog ({len(logs)} lines):" + "".join(f"\n  {line}" for line in logs))
    return "\n".join(parts)


BATCH_COUNTS = ("pending", "running", "completed", "failed", "cancelled", "expired")
ENDED_COUNTS = ("completed", "failed", "cancelled", "expired")


def batch_ended(batch: dict[str, Any]) -> int:
    return sum(int(batch.get(name) or 0) for name in ENDED_COUNTS)


def batch_rows(batches: Sequence[dict[str, Any]]) -> str:
    return table(
        [
            (
                b.get("id"),
                b.get("status"),
                f"{batch_ended(b)}/{b.get('total')}",
                b.get("completed"),
                b.get("failed"),
                b.get("cancelled"),
                b.get("store_id"),
                short_time(b.get("created_at")),
                b.get("description"),
            )
            for b in batches
        ],
        ["ID", "STATUS", "ENDED", "COMPLETED", "FAILED", "CANCELLED", "STORE", "CREATED", "DESCRIPTION"],
    )


def batch_detail(batch: dict[str, Any]) -> str:
    counts = "  ".join(f"{name} {int(batch.get(name) or 0)}" for name in BATCH_COUNTS)
    parts = [
        facts(
            [
                ("id", batch.get("id")),
                ("description", batch.get("description")),
                ("status", batch.get("status")),
                (
                    "progress",
                    f"{progress_bar(batch.get('progress'))}  {batch_ended(batch)} of {batch.get('total')} ended",
                ),
                ("children", counts),
                ("store", batch.get("store_id")),
                ("plugin", batch.get("plugin_id")),
                ("created", short_time(batch.get("created_at"))),
                ("finished", short_time(batch.get("finished_at"))),
                *([("note", batch["note"])] if batch.get("note") else []),
            ]
        )
    ]
    callbacks = batch.get("callbacks") or []
    parts.append("\ncallbacks:")
    if not callbacks:
        parts.append("  none")
    for callback in callbacks:
        state = callback.get("state")
        if state == "queued":
            state = f"queued {short_time(callback.get('queued_at'))}, {callback.get('job_status')}"
            if callback.get("finished_at"):
                state += f" {short_time(callback['finished_at'])}"
            state += f"  (job {callback.get('job_id')})"
        elif state == "waiting":
            state = "waiting for every child to end"
        elif state == "skipped":
            state = "skipped: not every child completed"
        parts.append(f"  {callback.get('name'):<12} {callback.get('type')}  {state}")
    return "\n".join(parts)


def cron_rows(crons: Sequence[dict[str, Any]]) -> str:
    return table(
        [
            (
                c.get("id"),
                c.get("name"),
                c.get("cron_expression"),
                c.get("timezone"),
                short_time(c.get("next_run_at")) if c.get("is_active") else "paused",
                c.get("last_status") or "never",
                "active" if c.get("is_active") else "paused",
            )
            for c in crons
        ],
        ["ID", "NAME", "SCHEDULE", "TIMEZONE", "NEXT RUN", "LAST", "STATE"],
    )


def cron_detail(cron: dict[str, Any], executions: Sequence[dict[str, Any]] | None = None) -> str:
    state = "active" if cron.get("is_active") else f"paused {cron.get('paused_reason') or ''}".rstrip()
    parts = [
        facts(
            [
                ("id", cron.get("id")),
                ("name", cron.get("name")),
                ("description", cron.get("description")),
                ("schedule", f"{cron.get('cron_expression')}  ({cron.get('schedule_description')})"),
                ("timezone", cron.get("timezone")),
                ("state", state),
                ("next run", short_time(cron.get("next_run_at"))),
                ("last run", f"{short_time(cron.get('last_run_at'))} {cron.get('last_status') or ''}".rstrip()),
                ("last error", cron.get("last_error")),
                (
                    "runs",
                    f"{cron.get('run_count', 0)} ({cron.get('success_count', 0)} ok, "
                    f"{cron.get('failure_count', 0)} failed, {cron.get('skipped_count', 0)} skipped)",
                ),
                ("job type", cron.get("job_type")),
                ("store", cron.get("store_id")),
                ("plugin", cron.get("plugin_id")),
                ("priority", cron.get("priority")),
            ]
        )
    ]
    if executions is not None:
        parts.append("\nexecutions (newest first):")
        parts.append(_indent(job_rows(executions)) if executions else "  none yet")
    return "\n".join(parts)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def health(body: dict[str, Any]) -> str:
    tick = body.get("tick") or {}
    if not tick.get("last_at"):
        return f"{body.get('status')}: the minute tick has not run yet"
    return f"{body.get('status')}: the minute tick last ran {short_time(tick['last_at'])} ({tick.get('lag_s')} s ago)"
