"""What every built-in type shares: its configuration rendered at run time, and secrets kept out of sight.

Templates, ``{{env:...}}`` and ``{{secret:...}}`` are rendered when the job runs, after the
references are checked again against the job's rights (chalicelib/references.py): a job saved
before the rule, or whose rights changed since, fails for good before anything is sent. Every
value a render revealed, and every credential the configuration carries, is scrubbed from the
job's log lines, its error and its result; that includes the rendered configuration's own
validation errors, which name fields rather than echo values.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from chalicelib.aws.secrets import MissingSecretError
from chalicelib.jobs.model import Job
from chalicelib.jobs.platform import Platform, PlatformJobHandler
from chalicelib.jobs.signals import PermanentJobError
from chalicelib.references import ReferencePolicy, Source, lookup, rule_for
from chalicelib.scrubbing import MIN_SECRET_CHARS, scrub, scrub_deep, sensitive_values
from chalicelib.telemetry import context
from chalicelib.templating import forbidden_references, job_variables, render

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class ScrubbedJobError(Exception):
    """An attempt's error with the secrets in its message masked; retried like the original."""


def run_variables(job: Job, now: datetime) -> dict[str, str]:
    """The template variables of this run: its time, its cron job's calendar day, its ids."""
    return job_variables(
        job_id=job.id,
        store_id=job.store_id,
        cron_job_id=job.cron_job_id,
        scheduled_at=job.scheduled_at,
        timezone=str(job.metadata.get("timezone") or "UTC"),
        now=now,
    )


def rendered_configuration(job: Job, platform: Platform, revealed: set[str] | None = None) -> Any:
    """The job's payload with its placeholders filled; values from env or secrets go into ``revealed``.

    Raises PermanentJobError, naming each refused reference (never a value), before any is read.
    """
    rights = job.acting_rights
    rule = rule_for(admin=rights.is_admin, store_id=job.store_id, policy=ReferencePolicy.of(platform.settings))
    refused = forbidden_references(job.payload, "payload", rule)
    if refused:
        raise PermanentJobError(
            "forbidden template reference: " + "; ".join(f"{item['field']}: {item['message']}" for item in refused)
        )
    environment = platform.settings.job_environment

    def resolve(kind: str, name: str) -> str:
        found = lookup(kind, name)
        if found.source == Source.ENV:
            if found.name not in environment:
                raise MissingSecretError(f"environment variable {found.name} is not set")
            value = environment[found.name]
        else:
            value = platform.secrets.read(found)
        if revealed is not None:
            revealed.add(value)
        return value

    return render(job.payload, run_variables(job, platform.clock.now()), resolve)


def validation_summary(error: ValidationError, raw: Any) -> str:
    """The errors of a rendered configuration by field; a field that held a template shows no message.

    Pydantic's messages (and the types' own validators) echo the input, and a rendered input may
    be a revealed secret too short to scrub, so such a field is named, never described.
    """
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "(configuration)"
        if _holds_template(raw, item["loc"]):
            problems.append(f"{path}: invalid once its templates were rendered (the value is not shown)")
        else:
            problems.append(f"{path}: {item['msg']}")
    return f"the rendered configuration is invalid: {'; '.join(problems)}"


def _holds_template(raw: Any, loc: tuple[Any, ...]) -> bool:
    """Whether the stored configuration, at ``loc`` (as far as it reaches), holds a placeholder."""
    value = raw
    for part in loc:
        reachable = (isinstance(value, dict) and part in value) or (
            isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)
        )
        if not reachable:
            break
        value = value[part]
    return "{{" in json.dumps(value, default=str)


class ConfiguredJobHandler(PlatformJobHandler, Generic[ConfigT]):
    """A built-in type: ``run(config)`` gets the rendered, validated configuration."""

    config_model: ClassVar[type[BaseModel]]

    def execute(self) -> Any:
        revealed: set[str] = set()
        self._secrets: set[str] = set()
        try:
            rendered = rendered_configuration(self.job, self.platform, revealed)
            self._secrets = {value for value in revealed if len(value) >= MIN_SECRET_CHARS} | sensitive_values(rendered)
            context.hide(self._secrets)  # every line written while the job runs, not only its own
            try:
                config = self.config_model.model_validate(rendered, context=self.platform.settings)
            except ValidationError as exc:
                raise ScrubbedJobError(validation_summary(exc, self.job.payload)) from None
            result = self.run(config)  # type: ignore[arg-type]
        except Exception as exc:
            # A render that failed half-way still revealed what it read before failing.
            self._secrets |= {value for value in revealed if len(value) >= MIN_SECRET_CHARS}
            context.hide(self._secrets)
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
            context.hide([value])

    def log(self, message: str) -> None:
        super().log(scrub(str(message), getattr(self, "_secrets", ())))
