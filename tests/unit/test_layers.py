"""The layering rules, read from the source: what each part of the Lambda package may import and read."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAMBDA_PACKAGE = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]
AWS_SDK = {"boto3", "botocore"}
WEB_AND_AWS = AWS_SDK | {"chalice", "requests", "moto"}
PURE_MODULES = [
    "jobs/backoff.py",
    "stores/policy.py",
    "jobs/lifecycle.py",
    "crons/expression.py",
    "crons/description.py",
    "crons/locales.py",
    "crons/firing.py",
    "clock.py",
    "config.py",
    "rights.py",
    "partitions.py",
    "jobs/shards.py",
    "references.py",
    "templating.py",
    "masking.py",
    "scrubbing.py",
    "audit.py",
    "crons/liveness.py",
    "telemetry/context.py",
    "telemetry/formatting.py",
    "telemetry/tracing.py",
    "stats/histogram.py",
    "stats/counters.py",
    "stats/series.py",
]
# Where the AWS SDK is imported: the adapters, the two stores, and the process wiring.
AWS_IMPORTERS = {
    "chalicelib/aws/dynamo.py",
    "chalicelib/aws/objects.py",
    "chalicelib/aws/provision.py",
    "chalicelib/aws/queues.py",
    "chalicelib/aws/secrets.py",
    "chalicelib/aws/store_secrets.py",
    "chalicelib/jobs/store.py",
    "chalicelib/jobs/finished.py",
    "chalicelib/jobs/store_jobs.py",
    "chalicelib/jobs/logs.py",
    "chalicelib/stores/slots.py",
    "chalicelib/stores/backlog.py",
    "chalicelib/jobs/rate_limit.py",
    "chalicelib/crons/store.py",
    "chalicelib/batches/store.py",
    "chalicelib/stats/store.py",
    "chalicelib/runtime.py",
    "chalicelib/jobs/builtin/email_job.py",  # SES's refusals, told apart by their code
}


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def imported(path: Path) -> frozenset[str]:
    """Top-level packages ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return frozenset(found)


def reads_environment(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
            return True
    return False


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_aws_or_web_code(module: str) -> None:
    assert not imported(ROOT / "chalicelib" / module) & WEB_AND_AWS


def test_only_the_settings_read_the_environment() -> None:
    assert [name(path) for path in LAMBDA_PACKAGE if reads_environment(path)] == ["chalicelib/config.py"]


def test_the_aws_sdk_is_imported_only_by_the_adapters() -> None:
    assert {name(path) for path in LAMBDA_PACKAGE if imported(path) & AWS_SDK} == AWS_IMPORTERS


def test_the_http_layer_makes_no_aws_call_of_its_own() -> None:
    api = sorted((ROOT / "chalicelib" / "api").glob("*.py"))
    assert [name(path) for path in api if imported(path) & AWS_SDK] == []


def test_the_lambda_package_needs_nothing_outside_it() -> None:
    """The development stack, the test kit, tests, benchmarks and packaging are not in the zip."""
    outside = {"devstack", "tickwork_testing", "tests", "bench", "deploy"}
    leaks = {name(path): sorted(imported(path) & outside) for path in LAMBDA_PACKAGE if imported(path) & outside}
    # `chalice local` (never on Lambda) tunes its server from the development stack.
    assert leaks == {"app.py": ["devstack"]}
