"""``plugin new <name>``: a plugin folder whose handler, payload model, route and test work at once.

The files import their own modules relatively, so the folder works under any plugins package
(``plugins`` or ``TICKWORK_PLUGINS_PACKAGE``) and in a temporary one a test builds.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from pathlib import Path
from string import Template

from chalicelib.jobs.model import PLUGIN_TYPE_PATTERN

DEFAULT_PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"
ACTION = "sync"


class ScaffoldError(Exception):
    """Raised when the plugin cannot be created; the message says why, in one sentence."""


@dataclass(frozen=True)
class PluginNames:
    name: str  # as in job types and routes: acme-sync
    package: str  # the folder and module: acme_sync
    classes: str  # the prefix of its class names: AcmeSync

    @property
    def job_type(self) -> str:
        return f"plugin:{self.name}:{ACTION}"


def plugin_names(name: str) -> PluginNames:
    """The names a plugin called ``name`` uses; ScaffoldError for a name a job type would refuse."""
    if not PLUGIN_TYPE_PATTERN.match(f"plugin:{name}:{ACTION}"):
        raise ScaffoldError(
            f"{name!r} cannot name a plugin: job types are plugin:<plugin-name>:<action>, and a plugin "
            "name is lowercase letters and digits, in words joined by '-' (e.g. acme-sync)"
        )
    package = name.replace("-", "_")
    if not package.isidentifier() or keyword.iskeyword(package):
        raise ScaffoldError(f"{name!r} cannot name a plugin: its folder {package!r} must be a Python module name")
    return PluginNames(name=name, package=package, classes="".join(word.capitalize() for word in name.split("-")))


def create_plugin(name: str, plugins_dir: Path = DEFAULT_PLUGINS_DIR) -> list[Path]:
    """Write the plugin's folder under ``plugins_dir``; returns the files created, in order."""
    names = plugin_names(name)
    folder = plugins_dir / names.package
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists: choose another name, or remove it first")
    if not plugins_dir.is_dir():
        raise ScaffoldError(f"{plugins_dir} is not a directory")
    values = {
        "name": names.name,
        "package": names.package,
        "classes": names.classes,
        "job_type": names.job_type,
        "action": ACTION,
    }
    created = []
    for relative, template in FILES.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
        created.append(path)
    return created


INIT = '''"""The "$name" plugin: its job type ($job_type) and its route (POST /api/$name/run)."""

from __future__ import annotations

from chalicelib.jobs.manager import JobManager

from . import routes
from .jobs.${action}_job import ${classes}Job, ${classes}Payload

PLUGIN_NAME = "$name"
blueprints = [routes.bp]


def initialize_plugin(job_manager: JobManager) -> None:
    job_manager.register_job_type(routes.JOB_TYPE, ${classes}Job, payload_model=${classes}Payload)
'''

JOB = '''"""The $name job: works through the payload's items, with progress and checkpoints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.jobs.base import BaseJobHandler

MAX_ITEMS = 10_000


class ${classes}Payload(BaseModel):
    """Checked when a job is scheduled: a payload that does not fit is a 400 naming the field."""

    model_config = ConfigDict(extra="forbid")

    storeId: str = Field(min_length=1, max_length=128)  # noqa: N815 - the API's spelling
    items: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)


class ${classes}Job(BaseJobHandler):
    """Processes each item of its payload, resuming from its checkpoint."""

    def execute(self) -> dict[str, Any]:
        payload = ${classes}Payload.model_validate(self.job.payload)
        total = len(payload.items)
        # A job resumed in a fresh invocation, or retried after a crash, goes on from here.
        start = int((self.checkpoint_state or {}).get("done", 0))
        if start == 0:
            self.log(f"Starting for {payload.storeId}: {total} items")
        for i in range(start, total):
            self.process(payload.items[i])
            self.update_progress(100 * (i + 1) / total, f"Processed {i + 1}/{total}")
            self.checkpoint({"done": i + 1})
        self.update_progress(100, "Done")
        return {"storeId": payload.storeId, "processed": total}

    def process(self, item: str) -> None:
        """One item's work. Delivery is at least once: key side effects with self.idempotency_key."""
        self.log(f"processed {item}")
'''

ROUTES = '''"""POST /api/$name/run: schedule a $name job for a store."""

from __future__ import annotations

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import runtime
from chalicelib.api.http import Call, endpoint, ok
from chalicelib.api.schemas import JobAnswer
from chalicelib.crons.model import PLATFORM_STORE
from chalicelib.jobs.model import ID_PATTERN, parse_model

from .jobs.${action}_job import MAX_ITEMS, ${classes}Payload

bp = Blueprint(__name__)

JOB_TYPE = "$job_type"
PLUGIN_ID = "$name"


class RunRequest(BaseModel):
    """The optional body of POST /api/$name/run."""

    model_config = ConfigDict(extra="forbid")

    storeId: str | None = Field(default=None, pattern=ID_PATTERN)  # noqa: N815 - the API's spelling
    items: list[str] = Field(default_factory=list, max_length=MAX_ITEMS)


@endpoint(
    bp,
    "/$name/run",
    ["POST"],
    summary="Schedule a $name job.",
    body=RunRequest,
    body_required=False,
    response=JobAnswer,
    status=202,
    errors=(403, 429),
)
def run(call: Call) -> Response:
    """Schedule a job: for storeId in the body, else the store of the calling job."""
    body = parse_model(RunRequest, call.optional_json_body())
    store_id = body.storeId or call.request.headers.get("x-tickwork-store-id") or PLATFORM_STORE
    payload = parse_model(${classes}Payload, {"storeId": store_id, "items": body.items})
    job = runtime.job_manager.schedule_job(
        type=JOB_TYPE,
        payload=payload.model_dump(),
        store_id=store_id,
        metadata={"pluginId": PLUGIN_ID},
        principal=call.principal,
    )
    return ok({"job": job.to_public()}, 202)
'''

TEST = '''"""The $name job, run inline with the test kit (tickwork_testing): no AWS, no stack."""

from __future__ import annotations

from tickwork_testing import RunStatus, run_handler

from ..jobs.${action}_job import ${classes}Job, ${classes}Payload

PAYLOAD = {"storeId": "store-1", "items": ["a", "b", "c"]}


def test_a_job_processes_every_item() -> None:
    run = run_handler(${classes}Job, payload=PAYLOAD, payload_model=${classes}Payload)
    assert run.status == RunStatus.COMPLETED
    assert run.result == {"storeId": "store-1", "processed": 3}
    assert (run.progress, run.progress_message) == (100, "Done")
    assert run.log_messages == ["Starting for store-1: 3 items", "processed a", "processed b", "processed c"]


def test_a_job_handed_over_resumes_from_its_checkpoint() -> None:
    first = run_handler(${classes}Job, payload=PAYLOAD, continue_at_checkpoint=2)
    assert first.status == RunStatus.CONTINUED
    rest = run_handler(${classes}Job, payload=PAYLOAD, checkpoint=first.checkpoint)
    assert rest.status == RunStatus.COMPLETED
    assert rest.log_messages == ["processed c"]


def test_a_cancelled_job_stops_at_once() -> None:
    run = run_handler(${classes}Job, payload=PAYLOAD, cancel_at_progress=1)
    assert run.status == RunStatus.CANCELLED
    assert run.checkpoints == []
'''

FILES = {
    "__init__.py": INIT,
    "jobs/__init__.py": "",
    f"jobs/{ACTION}_job.py": JOB,
    "routes.py": ROUTES,
    "tests/__init__.py": "",
    f"tests/test_{ACTION}_job.py": TEST,
}
