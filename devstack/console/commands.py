"""What ``jobs ...``, ``batches ...`` and ``cron ...`` do: one function per command, returning the exit code.

Each takes the parsed arguments, an ``ApiClient`` and an output stream, so a test can run a
command against a real server and read what a user would see.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from devstack.console import render
from devstack.console.client import ApiClient, ConsoleError, path_id

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired"})
DEFAULT_FOLLOW_INTERVAL_S = 0.5


def emit(out: TextIO, args: argparse.Namespace, body: dict[str, Any], text: str) -> None:
    """The API's JSON under --json (for scripts), else the human text."""
    out.write((json.dumps(body, indent=2, sort_keys=True, default=str) if args.json else text) + "\n")


# --- health --------------------------------------------------------------------------------


def health(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    """Exit 0 when the API answers and the minute tick ran within 3 minutes, 1 when degraded."""
    body = client.public("health")
    emit(out, args, body, render.health(body))
    return 0 if body.get("status") == "ok" else 1


# --- jobs ----------------------------------------------------------------------------------


def jobs_list(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.get(
        "background-jobs",
        {
            "status": args.status,
            "type": args.type,
            "store_id": args.store,
            "plugin_id": args.plugin,
            "limit": args.limit,
            "next_token": args.next_token,
        },
    )
    emit(out, args, body, page_text(body, render.job_rows, "no jobs"))
    return 0


def jobs_show(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.get(f"background-jobs/{path_id(args.id)}")
    emit(out, args, body, render.job_detail(body["job"]))
    return 0


def jobs_retry(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.post(f"background-jobs/{path_id(args.id)}/retry")
    emit(out, args, body, f"job {body['job']['id']} queued again ({body['job']['status']})")
    return 0


def jobs_cancel(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.post(f"background-jobs/{path_id(args.id)}/cancel")
    emit(out, args, body, f"job {body['job']['id']} is {body['job']['status']}")
    return 0


def jobs_follow(
    args: argparse.Namespace,
    client: ApiClient,
    out: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Poll the job's status until it finishes, drawing its progress; 0 only if it completed.

    On a terminal the bar redraws in place; into a pipe or a file, a line is written each
    time the status, progress or message changes.
    """
    path = f"background-jobs/{path_id(args.id)}/status"
    live = not args.json and out.isatty()
    deadline = monotonic() + args.timeout if args.timeout else None
    last_line = ""
    while True:
        body = client.get(path)
        job = body["job"]
        line = f"{render.progress_bar(job.get('progress'))}  {job.get('status')}  {job.get('progress_message') or ''}"
        line = line.rstrip()
        if line != last_line and not args.json:
            out.write(f"\r{line}\033[K" if live else line + "\n")
            out.flush()
            last_line = line
        if job.get("status") in TERMINAL_STATUSES:
            break
        if deadline is not None and monotonic() >= deadline:
            if live:
                out.write("\n")
            raise ConsoleError(f"Job {job['id']} is still {job['status']} after {args.timeout:g} s (--timeout).")
        sleep(args.interval)
    if live:
        out.write("\n")
    if args.json:
        emit(out, args, body, "")
    else:
        summary = f"job {job['id']} {job['status']}"
        if job.get("error"):
            summary += f": {job['error']}"
        elif job.get("result") is not None:
            summary += f": {json.dumps(job['result'], default=str, sort_keys=True)}"
        out.write(summary + "\n")
    return 0 if job.get("status") == "completed" else 1


# --- batches -------------------------------------------------------------------------------


def batches_list(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.get(
        "background-jobs/batches",
        {"store_id": args.store, "status": args.status, "limit": args.limit, "next_token": args.next_token},
    )
    emit(out, args, body, page_text(body, render.batch_rows, "no batches", key="batches"))
    return 0


def batches_show(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.get(f"background-jobs/batches/{path_id(args.id)}")
    emit(out, args, body, render.batch_detail(body["batch"]))
    return 0


def batches_jobs(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.get(
        f"background-jobs/batches/{path_id(args.id)}/jobs",
        {"status": args.status, "limit": args.limit, "next_token": args.next_token},
    )
    emit(out, args, body, page_text(body, render.job_rows, "no children match"))
    return 0


def batches_cancel(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.post(f"background-jobs/batches/{path_id(args.id)}/cancel")
    batch = body["batch"]
    # A running child stops when its handler next reports: until then it still counts as running.
    stopping = f", {batch['running']} still stopping" if batch.get("running") else ""
    emit(
        out,
        args,
        body,
        f"batch {batch['id']} is {batch['status']}: {batch['completed']} completed, {batch['failed']} failed, "
        f"{batch['cancelled']} cancelled{stopping}",
    )
    return 0


# --- cron jobs -----------------------------------------------------------------------------


def cron_list(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    active = {"active": "true", "paused": "false"}.get(args.state or "")
    body = client.get(
        "cron-jobs",
        {
            "store_id": args.store,
            "plugin_id": args.plugin,
            "job_type": args.type,
            "is_active": active,
            "limit": args.limit,
            "next_token": args.next_token,
        },
    )
    emit(out, args, body, page_text(body, render.cron_rows, "no cron jobs"))
    return 0


def cron_show(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.get(f"cron-jobs/{path_id(args.id)}")
    history = client.get(f"cron-jobs/{path_id(args.id)}/executions", {"limit": args.runs})
    body = {**body, "executions": history.get("executions") or []}
    emit(out, args, body, render.cron_detail(body["job"], body["executions"]))
    return 0


def cron_set_state(action: str) -> Callable[[argparse.Namespace, ApiClient, TextIO], int]:
    def command(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
        body = client.post(f"cron-jobs/{path_id(args.id)}/{action}")
        cron = body["job"]
        state = "active" if cron.get("is_active") else "paused"
        next_run = f", next run {render.short_time(cron.get('next_run_at'))}" if cron.get("is_active") else ""
        emit(out, args, body, f"cron job {cron['id']} ({cron['name']}) is {state}{next_run}")
        return 0

    return command


def cron_run(args: argparse.Namespace, client: ApiClient, out: TextIO) -> int:
    body = client.post(f"cron-jobs/{path_id(args.id)}/run")
    execution = body["execution"]
    emit(
        out,
        args,
        body,
        f"run queued: job {execution['id']} ({execution['status']}); "
        f"follow it with: python -m devstack.cli jobs follow {execution['id']}",
    )
    return 0


def cron_preview(args: argparse.Namespace, out: TextIO, now: datetime | None = None) -> int:
    """The next fire times, computed here with the code the API's preview uses (no server needed)."""
    from chalicelib.crons.expression import parse_schedule
    from chalicelib.errors import TickworkError

    try:
        schedule = parse_schedule(args.expression, args.tz)
        after = _parse_after(args.after) if args.after else (now or datetime.now(UTC))
        times = schedule.next_times(after, args.count)
    except TickworkError as error:
        raise ConsoleError(error.message, body={"success": False, "error": error.message, "code": error.code}) from None
    runs = [t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]
    body = {
        "success": True,
        "valid": True,
        "cron_expression": schedule.expression,
        "timezone": schedule.timezone,
        "description": schedule.description,
        "next_runs": runs,
    }
    zone = schedule.timezone
    lines = [schedule.description, *(f"  {_local(t, zone)}   {run}" for t, run in zip(times, runs, strict=True))]
    emit(out, args, body, "\n".join(lines))
    return 0


def _parse_after(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConsoleError(f"--after {text!r} is not an ISO 8601 time, e.g. 2026-01-01T00:00:00Z.") from None
    if moment.tzinfo is None:
        raise ConsoleError("--after needs a timezone offset, e.g. 2026-01-01T00:00:00Z.")
    return moment


def _local(moment: datetime, zone: str) -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M %Z")


def page_text(
    body: dict[str, Any], rows: Callable[[list[dict[str, Any]]], str], empty: str, *, key: str = "jobs"
) -> str:
    """A listing's table, or ``empty``, and how to ask for the next page."""
    items = body.get(key) or []
    text = rows(items) if items else empty
    if body.get("next_token"):
        text += f"\nmore: --next-token {body['next_token']}"
    return text
