"""What the runtime hands the job types the platform ships: its settings and the adapters they call.

Plugin handlers get none of this: they act through the API (``api_call``) or their own code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.jobs.base import BaseJobHandler, JobRunContext
from chalicelib.jobs.model import Job

if TYPE_CHECKING:
    from chalicelib.aws.secrets import SecretResolver
    from chalicelib.aws.store_secrets import StoreSecrets
    from chalicelib.clock import Clock
    from chalicelib.config import Settings
    from chalicelib.crons.service import CronService
    from chalicelib.jobs.finished import FinishedJobs
    from chalicelib.jobs.service import JobService
    from chalicelib.jobs.store import DynamoJobStore
    from chalicelib.jobs.store_jobs import StoreJobs


class Platform(Protocol):
    """The runtime, as a built-in type sees it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> DynamoJobStore: ...

    @property
    def finished_jobs(self) -> FinishedJobs: ...

    @property
    def store_jobs(self) -> StoreJobs: ...

    @property
    def jobs(self) -> JobService: ...

    @property
    def crons(self) -> CronService: ...

    @property
    def store_secrets(self) -> StoreSecrets: ...

    @property
    def secrets(self) -> SecretResolver: ...

    @property
    def ses(self) -> Any: ...

    @property
    def s3(self) -> Any: ...

    @property
    def jwt_secret(self) -> str: ...


class PlatformJobHandler(BaseJobHandler):
    """A built-in type: built with the platform that runs it (``self.platform``)."""

    def __init__(self, job: Job, context: JobRunContext, platform: Platform) -> None:
        super().__init__(job, context)
        self.platform = platform


def build_handler(
    handler: type[BaseJobHandler], job: Job, context: JobRunContext, platform: Platform
) -> BaseJobHandler:
    if issubclass(handler, PlatformJobHandler):
        return handler(job, context, platform)
    return handler(job, context)
