"""The fault suite's job types, as a plugin, so an API process can schedule them."""

from __future__ import annotations

from chalicelib.jobs.manager import JobManager


def initialize_plugin(job_manager: JobManager) -> None:
    import tests.faults.kit  # noqa: F401 - registers plugin:fault-kit:* on import
