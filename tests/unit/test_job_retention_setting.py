"""The retention of finished jobs, as read from the environment."""

from __future__ import annotations

from chalicelib.config import Settings


def test_the_retention_comes_from_the_environment() -> None:
    assert Settings.from_env({"TICKWORK_JOB_RETENTION_DAYS": "7"}).job_retention_days == 7
    assert Settings.from_env({}).job_retention_days == 90
