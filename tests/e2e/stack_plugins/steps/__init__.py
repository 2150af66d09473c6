"""``plugin:e2e-steps:run``: a job slow enough for a browser to watch its progress.

It sleeps between steps (this runs inside the embedded stack, a real process: there is no
clock to inject) and reports progress after each. ``fail_if_exists`` names a file: while it
exists, the job fails, so a test can make a job fail and then let its retry succeed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.manager import JobManager

STEPS_TYPE = "plugin:e2e-steps:run"


class StepsPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=5, ge=1, le=100)
    step_s: float = Field(default=0.2, ge=0, le=5)
    label: str = Field(default="step", max_length=200)
    fail_if_exists: str | None = Field(default=None, max_length=500)
    # Run as a batch's callback, the job receives the batch's summary here.
    batch: dict[str, Any] | None = None


class StepsJob(BaseJobHandler):
    """Counts through its steps, reporting progress after each."""

    def execute(self) -> dict[str, Any]:
        payload = StepsPayload.model_validate(self.job.payload)
        self.log(f"{payload.label}: {payload.steps} steps of {payload.step_s} s")
        if payload.fail_if_exists and Path(payload.fail_if_exists).exists():
            raise RuntimeError(f"{payload.label}: marker file present")
        for step in range(1, payload.steps + 1):
            time.sleep(payload.step_s)
            self.update_progress(round(100 * step / payload.steps), f"{payload.label} {step}/{payload.steps}")
        return {"steps": payload.steps}


def initialize_plugin(job_manager: JobManager) -> None:
    job_manager.register_job_type(STEPS_TYPE, StepsJob, payload_model=StepsPayload)
