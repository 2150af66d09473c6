"""``python -m devstack.cli plugin new``: a plugin folder that loads and passes its own test at once.

No AWS: the plugin is created in a temporary plugins package, loaded by plugin discovery, and its
generated test runs with pytest in a clean subprocess.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice import Chalice

from chalicelib.jobs.manager import JobManager
from chalicelib.jobs.plugins import discover_plugins
from chalicelib.jobs.registry import JobTypeRegistry
from devstack import cli
from tests.handlers import Noop

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "scaffolded_plugins"


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Iterator[Path]:
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield package
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def new_plugin(name: str, plugins_dir: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["plugin", "new", name, "--plugins-dir", str(plugins_dir)], out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_new_plugin_loads_and_passes_its_generated_test(plugins_dir: Path) -> None:
    code, out, err = new_plugin("acme-sync", plugins_dir)
    assert (code, err) == (0, "")
    folder = plugins_dir / "acme_sync"
    created = sorted(p for p in folder.rglob("*.py"))
    assert {p.relative_to(folder).as_posix() for p in created} == {
        "__init__.py",
        "jobs/__init__.py",
        "jobs/sync_job.py",
        "routes.py",
        "tests/__init__.py",
        "tests/test_sync_job.py",
    }
    assert all(str(path) in out for path in created), out

    manager = JobManager(JobTypeRegistry(), lambda: pytest.fail("registration must not build AWS clients"))
    loaded = discover_plugins(manager, PACKAGE)
    assert [m.__name__ for m in loaded] == [f"{PACKAGE}.acme_sync"]
    job_type = manager.registry.get("plugin:acme-sync:sync")
    assert job_type.plugin == "acme-sync"
    assert set(job_type.describe()["configuration_schema"]["properties"]) == {"storeId", "items"}
    app = Chalice("scaffold-check")
    for blueprint in loaded[0].blueprints:
        app.register_blueprint(blueprint, url_prefix="/api")
    assert set(app.routes["/api/acme-sync/run"]) == {"POST"}

    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder / "tests"), "-q", "-p", "no:cacheprovider"],
        cwd=plugins_dir.parent,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout

    linted = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout


@pytest.mark.parametrize("name", ["Acme", "acme_sync", "acme--sync", "acme.sync", "acme-", "a:b", "acme sync", ""])
def test_a_name_job_types_refuse_is_refused(plugins_dir: Path, name: str) -> None:
    with pytest.raises(ValueError):
        JobTypeRegistry().register(f"plugin:{name}:sync", Noop)
    code, out, err = new_plugin(name, plugins_dir)
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "plugin:<plugin-name>:<action>" in err
    assert [p.name for p in plugins_dir.iterdir()] == ["__init__.py"]


@pytest.mark.parametrize("name", ["9lives", "import"])
def test_a_name_that_cannot_be_a_module_is_refused(plugins_dir: Path, name: str) -> None:
    JobTypeRegistry().register(f"plugin:{name}:sync", Noop)  # the type would do; the folder would not
    code, _, err = new_plugin(name, plugins_dir)
    assert code == 1 and "Python module name" in err
    assert [p.name for p in plugins_dir.iterdir()] == ["__init__.py"]


def test_an_existing_plugin_folder_is_refused_and_left_alone(plugins_dir: Path) -> None:
    (plugins_dir / "acme_sync").mkdir()
    (plugins_dir / "acme_sync" / "__init__.py").write_text("# mine\n")
    code, out, err = new_plugin("acme-sync", plugins_dir)
    assert (code, out) == (1, "")
    assert "already exists" in err
    assert [p.name for p in (plugins_dir / "acme_sync").iterdir()] == ["__init__.py"]
    assert (plugins_dir / "acme_sync" / "__init__.py").read_text() == "# mine\n"
