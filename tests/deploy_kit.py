"""The packaged prod template for the deploy tests, built once per session, and helpers reading it.

A pytest plugin: the root conftest loads it, so its fixtures serve tests/unit and tests/integration."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.config import Settings
from deploy.package import Packaged, package
from deploy.template import POLICY_ID, load_stage

STAGE = "prod"
# Lambda's own polling of the queues, granted by Chalice's DefaultRolePolicy.
CHALICE_SQS_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packaged:
    # cfn-lint runs in its own test (tests/unit/test_deploy_package.py); here only
    # deploy/checks.py guards the package.
    return package(STAGE, tmp_path_factory.mktemp("package") / STAGE, lint=False)


@pytest.fixture(scope="session")
def template(packaged: Packaged) -> dict[str, Any]:
    return json.loads(packaged.template.read_text())


@pytest.fixture(scope="session")
def stage_settings() -> Settings:
    return load_stage(STAGE).settings


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The TickworkPolicy's statements, with the conditional ones unwrapped."""
    out = []
    for statement in template["Resources"][POLICY_ID]["Properties"]["PolicyDocument"]["Statement"]:
        out.append(statement["Fn::If"][1] if "Fn::If" in statement else statement)
    return out
