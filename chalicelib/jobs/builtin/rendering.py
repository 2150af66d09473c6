"""What every built-in type shares: its configuration rendered at run time, and secrets kept out of sight.

Templates, ``{{env:...}}`` and ``{{secret:...}}`` are rendered when the job runs. Every value a
render revealed, and every credential the configuration carries, is scrubbed from the job's log
lines, its error and its result.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from chalicelib import runtime
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.signals import PermanentJobError
from chalicelib.models import Job
from chalicelib.scrubbing import MIN_SECRET_CHARS, scrub, scrub_deep, sensitive_values
from chalicelib.templating import job_variables, render

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class ScrubbedJobError(Exception):
    """An attempt's error with the secrets in its message masked; retried like the original."""


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


def rendered_configuration(job: Job, revealed: set[str] | None = None) -> Any:
    """The job's payload with its placeholders filled; values from env or secrets go into ``revealed``."""
    resolver = runtime.current().secrets

    def resolve(kind: str, name: str) -> str:
        value = resolver(kind, name)
        if revealed is not None:
            revealed.add(value)
        return value

    return render(job.payload, run_variables(job), resolve)


class ConfiguredJobHandler(BaseJobHandler, Generic[ConfigT]):
    """A built-in type: ``run(config)`` gets the rendered, validated configuration."""

    config_model: ClassVar[type[BaseModel]]

    def execute(self) -> Any:
        revealed: set[str] = set()
        rendered = rendered_configuration(self.job, revealed)
        self._secrets = {value for value in revealed if len(value) >= MIN_SECRET_CHARS} | sensitive_values(rendered)
        config = self.config_model.model_validate(rendered)
        try:
            result = self.run(config)  # type: ignore[arg-type]
        except Exception as exc:
            message = str(exc)
            scrubbed = scrub(message, self._secrets)
            if scrubbed == message:
                raise
            error_type = PermanentJobError if isinstance(exc, PermanentJobError) else ScrubbedJobError
            raise error_type(f"{type(exc).__name__}: {scrubbed}") from None
        return scrub_deep(result, self._secrets)

    def run(self, config: ConfigT) -> Any:
        raise NotImplementedError

    def keep_secret(self, value: str) -> None:
        """A value the handler learned itself (a password, a token it minted): never shown."""
        if value:
            self._secrets.add(value)

    def log(self, message: str) -> None:
        super().log(scrub(str(message), getattr(self, "_secrets", ())))
