"""Plugin discovery and the type registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chalicelib.errors import UnknownJobTypeError
from chalicelib.jobs.manager import JobManager
from chalicelib.jobs.plugins import discover_plugins
from chalicelib.jobs.registry import JobTypeRegistry
from tests.handlers import Noop


def isolated_manager() -> JobManager:
    def no_service() -> None:
        raise AssertionError("registration must not build AWS clients")

    return JobManager(JobTypeRegistry(), no_service)  # type: ignore[arg-type]


def test_the_shipped_plugins_register_the_guides_types() -> None:
    manager = isolated_manager()
    loaded = discover_plugins(manager, "plugins")
    assert {m.__name__ for m in loaded} >= {"plugins.my_plugin", "plugins.inventory_sync"}
    names = {t.name for t in manager.registry.all()}
    assert {"plugin:my-plugin:import", "plugin:inventory-sync:full"} <= names
    described = manager.registry.get("plugin:my-plugin:import").describe()
    assert described["plugin"] == "my-plugin"
    assert "source" in described["configuration_schema"]["properties"]


def test_a_broken_plugin_is_skipped_and_the_others_still_load(tmp_path: Path) -> None:
    package = tmp_path / "someplugins"
    (package / "good").mkdir(parents=True)
    (package / "broken").mkdir()
    (package / "__init__.py").write_text("")
    (package / "good" / "__init__.py").write_text(
        "from tests.handlers import Noop\n"
        "def initialize_plugin(job_manager):\n"
        "    job_manager.register_job_type('plugin:good:run', Noop)\n"
    )
    (package / "broken" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        manager = isolated_manager()
        loaded = discover_plugins(manager, "someplugins")
    finally:
        sys.path.remove(str(tmp_path))
    assert [m.__name__ for m in loaded] == ["someplugins.good"]
    assert manager.registry.get("plugin:good:run").handler is Noop


@pytest.mark.parametrize("name", ["plugin:My Plugin:import", "plugin:x", "plugin::run", "Webhook!", ""])
def test_malformed_type_names_are_refused_at_registration(name: str) -> None:
    with pytest.raises(ValueError):
        JobTypeRegistry().register(name, Noop)


def test_a_handler_must_subclass_base_job_handler() -> None:
    with pytest.raises(TypeError):
        JobTypeRegistry().register("plugin:x:y", object)  # type: ignore[arg-type]


def test_registering_another_handler_under_a_taken_name_is_refused() -> None:
    registry = JobTypeRegistry()
    registry.register("plugin:x:y", Noop)
    registry.register("plugin:x:y", Noop)  # the same handler again is fine (re-import)

    class Other(Noop):
        pass

    with pytest.raises(ValueError):
        registry.register("plugin:x:y", Other)


def test_an_unknown_type_is_a_400_saying_malformed_or_unregistered() -> None:
    registry = JobTypeRegistry()
    with pytest.raises(UnknownJobTypeError, match="not registered"):
        registry.get("plugin:nobody:home")
    with pytest.raises(UnknownJobTypeError, match="malformed"):
        registry.get("plugin:Nobody Home")
