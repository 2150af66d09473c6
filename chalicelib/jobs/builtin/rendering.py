"""Render a built-in job's configuration at run time (templates, env values, secrets)."""

from __future__ import annotations

from typing import Any

from chalicelib import runtime
from chalicelib.models import Job
from chalicelib.templating import job_variables, render


def run_variables(job: Job) -> dict[str, str]:
    """The template variables of this run: its time, its cron job's calendar day, its ids."""
    return job_variables(
        job_id=job.id,
        store_id=job.store_id,
        cron_job_id=job.cron_job_id,
        scheduled_at=job.scheduled_at,
        timezone=str(job.metadata.get("timezone") or "UTC"),
        now=runtime.current().clock.now(),
    )


def rendered_configuration(job: Job) -> Any:
    return render(job.payload, run_variables(job), runtime.current().secrets)
