"""``email``: a message through SES, from a template in the repository or a plain body.

Templates are files under ``chalicelib/templates/email/`` (``<name>.txt``, optionally
``<name>.html``), rendered with Jinja2 from the job's ``data``; only the repository's own files are
templates, so a user's configuration never becomes template code. The sender is configuration
(``TICKWORK_EMAIL_SENDER``), a verified SES identity, never a field a job may set.

A tenant (a store owner or a plugin) sends from the platform's own identity, so its reach is
smaller than an admin's: at most ``TENANT_MAX_RECIPIENTS`` addresses a message, each message
counted by the store's job rate limit and tagged with its store and job in SES, so a complaint or
bounce names the store that caused it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.jobs.builtin.rendering import ConfiguredJobHandler, run_variables
from chalicelib.jobs.signals import PermanentJobError

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
ADDRESS = re.compile(r"^[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
MAX_RECIPIENTS = 50  # SES's own cap per message
TENANT_MAX_RECIPIENTS = 10
# SES message tag values: letters, digits, _ - . @ only.
TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]")
# SES answers these for a message another attempt will not fix.
PERMANENT_SES_ERRORS = {"MessageRejected", "MailFromDomainNotVerifiedException", "ConfigurationSetDoesNotExist"}


class EmailConfig(BaseModel):
    """The guide's email configuration: ``to`` one or many, a ``template`` with ``data``, or a ``body``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at cold start

    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS, description="one address or a list")
    cc: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    bcc: list[str] = Field(default_factory=list, max_length=MAX_RECIPIENTS)
    subject: str = Field(min_length=1, max_length=998)
    template: str | None = Field(default=None, description="a file under chalicelib/templates/email, e.g. daily-report")
    body: str | None = Field(default=None, max_length=100_000, description="plain text, when there is no template")
    data: dict[str, Any] = Field(default_factory=dict, description="the template's variables")

    @field_validator("to", "cc", "bcc", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to", "cc", "bcc")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            # A template placeholder is checked again once rendered, when the job runs.
            if "{{" not in address and not ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("must be one line (a line break would start a new mail header)")
        return value

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not TEMPLATE_NAME.match(value) or not (TEMPLATE_DIR / f"{value}.txt").is_file():
            raise ValueError(f"unknown template {value!r}; the templates are: {', '.join(available_templates())}")
        return value

    @model_validator(mode="after")
    def _template_or_body(self) -> EmailConfig:
        if (self.template is None) == (self.body is None):
            raise ValueError("give either template (with data) or body")
        if len(self.to) + len(self.cc) + len(self.bcc) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} recipients in to, cc and bcc together")
        return self


def available_templates() -> list[str]:
    return sorted(path.stem for path in TEMPLATE_DIR.glob("*.txt"))


@cache
def _environment(autoescape: bool) -> Any:
    # Imported here: only email workers pay for Jinja2 at cold start.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render_template(name: str, context: dict[str, Any]) -> tuple[str, str | None]:
    """The text part and, if the template has one, the HTML part (HTML-escaped values)."""
    from jinja2 import UndefinedError

    try:
        text = _environment(False).get_template(f"{name}.txt").render(context)
        html_path = TEMPLATE_DIR / f"{name}.html"
        html = _environment(True).get_template(f"{name}.html").render(context) if html_path.is_file() else None
    except UndefinedError as exc:
        raise PermanentJobError(f"template {name!r} needs a value its data does not give: {exc.message}") from None
    return text, html


class EmailJob(ConfiguredJobHandler[EmailConfig]):
    """Renders the message and sends it through SES from the configured sender."""

    config_model = EmailConfig

    def run(self, config: EmailConfig) -> dict[str, Any]:
        for address in [*config.to, *config.cc, *config.bcc]:
            if not ADDRESS.match(address):
                raise PermanentJobError(f"{address!r} is not an email address (after rendering its template)")
        recipients = len(config.to) + len(config.cc) + len(config.bcc)
        if not self.job.acting_rights.is_admin and recipients > TENANT_MAX_RECIPIENTS:
            raise PermanentJobError(
                f"a store's email may go to at most {TENANT_MAX_RECIPIENTS} recipients; this one has {recipients}"
            )
        sender = self.platform.settings.email_sender
        if not sender:
            raise PermanentJobError("TICKWORK_EMAIL_SENDER is not set: email jobs need a verified SES sender address")
        if config.template:
            text, html = render_template(
                config.template, {**run_variables(self.job, self.platform.clock.now()), **config.data}
            )
        else:
            text, html = config.body or "", None
        body: dict[str, Any] = {"Text": {"Data": text, "Charset": "UTF-8"}}
        if html is not None:
            body["Html"] = {"Data": html, "Charset": "UTF-8"}
        destination = {"ToAddresses": config.to, "CcAddresses": config.cc, "BccAddresses": config.bcc}
        try:
            answer = self.platform.ses.send_email(
                Source=sender,
                Destination=destination,
                Message={"Subject": {"Data": config.subject, "Charset": "UTF-8"}, "Body": body},
                Tags=[
                    {"Name": "store_id", "Value": TAG_UNSAFE.sub("_", self.job.store_id)},
                    {"Name": "job_id", "Value": self.job.id},
                ],
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            message = f"SES refused the message: {error.get('Code')}: {error.get('Message')}"
            if error.get("Code") in PERMANENT_SES_ERRORS:
                raise PermanentJobError(message) from None
            raise
        self.log(f"sent {config.template or 'plain'} email to {recipients} recipients")
        return {
            "message_id": answer["MessageId"],
            "to": config.to,
            "cc": config.cc,
            "bcc_count": len(config.bcc),
            "subject": config.subject,
            "template": config.template,
        }
