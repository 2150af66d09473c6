"""Job types by name: built-in and plugin types, each with its handler class."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from chalicelib.errors import UnknownJobTypeError
from chalicelib.jobs.base import BaseJobHandler
from chalicelib.jobs.model import PLUGIN_TYPE_PATTERN, is_well_formed_type


@dataclass(frozen=True)
class JobType:
    name: str
    handler: type[BaseJobHandler]
    description: str
    plugin: str | None
    admin_only: bool
    payload_model: type[BaseModel] | None

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "description": self.description,
            "plugin": self.plugin,
            "builtin": self.plugin is None,
            "admin_only": self.admin_only,
            "configuration_schema": self.payload_model.model_json_schema()
            if self.payload_model
            else {"type": "object"},
        }


class JobTypeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}
        self._lock = threading.Lock()

    def register(
        self,
        name: str,
        handler: type[BaseJobHandler],
        *,
        description: str | None = None,
        admin_only: bool = False,
        payload_model: type[BaseModel] | None = None,
    ) -> JobType:
        if not is_well_formed_type(name):
            raise ValueError(f"job type {name!r} is malformed: use plugin:<plugin-name>:<action>")
        if not (isinstance(handler, type) and issubclass(handler, BaseJobHandler)):
            raise TypeError(f"handler for {name!r} must subclass BaseJobHandler")
        plugin = name.split(":")[1] if PLUGIN_TYPE_PATTERN.match(name) else None
        job_type = JobType(
            name=name,
            handler=handler,
            description=description
            if description is not None
            else (handler.description or handler.__doc__ or "").strip(),
            plugin=plugin,
            admin_only=admin_only,
            payload_model=payload_model,
        )
        with self._lock:
            existing = self._types.get(name)
            if existing is not None and existing.handler is not handler:
                raise ValueError(f"job type {name!r} is already registered by {existing.handler.__qualname__}")
            self._types[name] = job_type
        return job_type

    def get(self, name: str) -> JobType:
        job_type = self._types.get(name)
        if job_type is None:
            if not is_well_formed_type(name):
                raise UnknownJobTypeError(
                    f"Job type {name!r} is malformed: use a built-in type or plugin:<plugin-name>:<action>.",
                    details=[{"field": "type", "message": "malformed job type"}],
                )
            raise UnknownJobTypeError(
                f"Job type {name!r} is not registered.", details=[{"field": "type", "message": "unknown job type"}]
            )
        return job_type

    def knows(self, name: str) -> bool:
        return name in self._types

    def is_admin_only(self, name: str) -> bool:
        # A type no longer registered (a plugin removed) runs nothing: its jobs are not admin-only.
        job_type = self._types.get(name)
        return job_type is not None and job_type.admin_only

    def all(self) -> list[JobType]:
        return sorted(self._types.values(), key=lambda t: (t.plugin is not None, t.name))
