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


_NO_VALUE = object()


def resolve(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The template as CloudFormation reads it with these parameter values (the defaults for the
    rest): its conditions evaluated, resources and outputs whose condition is false left out,
    each `Fn::If` replaced by its branch, `AWS::NoValue` dropped and parameters' `Ref`s by values."""
    declared = template.get("Parameters", {})
    values = {name: str((parameters or {}).get(name, spec.get("Default", ""))) for name, spec in declared.items()}
    definitions = template.get("Conditions", {})

    def condition(name: str) -> bool:
        return holds(definitions[name])

    def operand(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return node

    def holds(node: Any) -> bool:
        ((key, value),) = node.items()
        if key == "Fn::Equals":
            return operand(value[0]) == operand(value[1])
        if key == "Fn::Not":
            return not holds(value[0])
        if key == "Fn::And":
            return all(holds(v) for v in value)
        if key == "Fn::Or":
            return any(holds(v) for v in value)
        if key == "Condition":
            return condition(value)
        raise ValueError(f"not a condition: {node}")

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                name, then, otherwise = node["Fn::If"]
                return walk(then if condition(name) else otherwise)
            if set(node) == {"Ref"} and node["Ref"] == "AWS::NoValue":
                return _NO_VALUE
            if set(node) == {"Ref"} and node["Ref"] in values:
                return values[node["Ref"]]
            pairs = ((key, walk(value)) for key, value in node.items())
            return {key: value for key, value in pairs if value is not _NO_VALUE}
        if isinstance(node, list):
            return [item for item in (walk(v) for v in node) if item is not _NO_VALUE]
        return node

    resolved = {key: value for key, value in template.items() if key not in ("Resources", "Outputs")}
    for section in ("Resources", "Outputs"):
        kept = {
            name: {key: value for key, value in body.items() if key != "Condition"}
            for name, body in template.get(section, {}).items()
            if condition_of(body, condition)
        }
        resolved[section] = walk(kept)
    return resolved


def condition_of(body: dict[str, Any], condition: Any) -> bool:
    return "Condition" not in body or bool(condition(body["Condition"]))
