"""Checks on a packaged template that cfn-lint does not make (or makes only after a transform).

- every resource has a `Type` (a misspelt logical id in the merge template adds a typeless one);
- every `Ref`, `Fn::GetAtt`, `${Name}`/`${Name.Attr}` in `Fn::Sub`, `DependsOn` and `Fn::If`
  condition names something the template defines;
- schedule expressions: `rate(N unit)` with a positive N and the singular unit for 1 only, or a
  six-field `cron(...)`;
- SQS event sources: batch size within 1..10,000 and a batching window when it is above 10
  (AWS refuses the mapping otherwise), partial batch responses on, MaximumConcurrency 2..1,000;
- each queue's visibility timeout at least six times the timeout of the function it feeds.

    python -m deploy.checks build/prod/sam.json
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deploy.concurrency import MAX_MAXIMUM_CONCURRENCY, MIN_MAXIMUM_CONCURRENCY

SAM_API_REFERENCES = ("Stage", "Deployment")
PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}
RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)$")
CRON = re.compile(r"^cron\((?P<fields>[^()]+)\)$")
SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
SQS_MAX_BATCH_WITHOUT_WINDOW = 10
SQS_MAX_BATCH = 10_000
VISIBILITY_PER_TIMEOUT = 6


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) pair below ``node``, the node itself first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}/{i}")


def check_references(template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources", {})
    known = set(resources) | set(template.get("Parameters", {})) | PSEUDO_PARAMETERS
    # SAM's referenceable properties of an API: `!Ref <Api>.Stage` names the stage it creates.
    known |= {
        f"{name}.{part}"
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Api"
        for part in SAM_API_REFERENCES
    }
    conditions = set(template.get("Conditions", {}))
    problems: list[str] = []
    for name, resource in resources.items():
        if "Type" not in resource:
            problems.append(f"Resources/{name} has no Type (a merged override of a resource that does not exist?)")
        depends = resource.get("DependsOn", [])
        for target in [depends] if isinstance(depends, str) else depends:
            if target not in resources:
                problems.append(f"Resources/{name}/DependsOn names {target!r}, which is not a resource")
    for section in ("Resources", "Outputs"):
        for name, body in template.get(section, {}).items():
            if isinstance(body.get("Condition"), str) and body["Condition"] not in conditions:
                problems.append(f"{section}/{name}: condition {body['Condition']!r}, which is not in Conditions")
    for path, node in walk(template):
        if not isinstance(node, dict) or len(node) != 1:
            continue
        ((key, value),) = node.items()
        if key == "Ref" and isinstance(value, str) and value not in known:
            problems.append(f"{path}: Ref to {value!r}, which the template does not define")
        elif key == "Fn::GetAtt":
            target = value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
            if target not in resources:
                problems.append(f"{path}: Fn::GetAtt on {target!r}, which is not a resource")
        elif key == "Fn::Sub":
            text, local = (value[0], set(value[1])) if isinstance(value, list) else (value, set())
            for variable in SUB_VARIABLE.findall(text):
                base = variable if variable.startswith("AWS::") else variable.split(".", 1)[0]
                if base not in known and base not in local:
                    problems.append(f"{path}: Fn::Sub uses ${{{variable}}}, which the template does not define")
        elif key == "Fn::If" and isinstance(value, list) and value and value[0] not in conditions:
            problems.append(f"{path}: Fn::If on condition {value[0]!r}, which is not in Conditions")
        elif key == "Condition" and isinstance(value, str) and value not in conditions:
            problems.append(f"{path}: condition {value!r}, which is not in Conditions")
    return problems


def check_schedule_expression(expression: str) -> str | None:
    """None if EventBridge accepts the expression, else why not."""
    rate = RATE.match(expression)
    if rate:
        value, unit = int(rate["value"]), rate["unit"]
        if value < 1:
            return f"{expression!r}: the rate must be positive"
        if (value == 1) == unit.endswith("s"):
            return f"{expression!r}: EventBridge wants the singular unit for 1 and the plural otherwise"
        return None
    cron = CRON.match(expression)
    if cron:
        fields = cron["fields"].split()
        if len(fields) != 6:
            return f"{expression!r}: an EventBridge cron has six fields, not {len(fields)}"
        day_of_month, day_of_week = fields[2], fields[4]
        if "?" not in (day_of_month, day_of_week):
            return f"{expression!r}: one of day-of-month and day-of-week must be '?'"
        return None
    return f"{expression!r} is neither rate(...) nor cron(...)"


def schedule_expressions(template: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Events::Rule" and "ScheduleExpression" in properties:
            yield f"Resources/{name}", properties["ScheduleExpression"]
        for event_name, event in (properties.get("Events") or {}).items():
            if event.get("Type") in ("Schedule", "ScheduleV2"):
                key = "Schedule" if event["Type"] == "Schedule" else "ScheduleExpression"
                yield f"Resources/{name}/Events/{event_name}", event.get("Properties", {}).get(key, "")


def sqs_event_sources(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, function logical id, the mapping's properties) for SAM SQS events and raw mappings."""
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Lambda::EventSourceMapping":
            function = properties.get("FunctionName", {})
            function_id = function.get("Ref", "") if isinstance(function, dict) else str(function)
            yield f"Resources/{name}", function_id, properties
        for event_name, event in (properties.get("Events") or {}).items():
            if event.get("Type") == "SQS":
                yield f"Resources/{name}/Events/{event_name}", name, event.get("Properties", {})


def queue_id_of(queue: Any) -> str | None:
    """The logical id behind an event source's queue ARN, when it is one of the template's."""
    if isinstance(queue, dict):
        if "Fn::GetAtt" in queue:
            value = queue["Fn::GetAtt"]
            return value[0] if isinstance(value, list) else str(value).split(".", 1)[0]
        if isinstance(queue.get("Fn::Sub"), str):
            match = re.fullmatch(r"\$\{([A-Za-z0-9]+)\.Arn\}", queue["Fn::Sub"])
            return match.group(1) if match else None
    return None


def check_event_sources(template: dict[str, Any]) -> list[str]:
    resources = template.get("Resources", {})
    problems: list[str] = []
    for path, function_id, properties in sqs_event_sources(template):
        batch = int(properties.get("BatchSize", 10))
        window = int(properties.get("MaximumBatchingWindowInSeconds", 0))
        if not 1 <= batch <= SQS_MAX_BATCH:
            problems.append(f"{path}: BatchSize {batch} is outside 1..{SQS_MAX_BATCH}")
        if batch > SQS_MAX_BATCH_WITHOUT_WINDOW and window < 1:
            problems.append(f"{path}: BatchSize {batch} > 10 needs MaximumBatchingWindowInSeconds >= 1")
        if "ReportBatchItemFailures" not in properties.get("FunctionResponseTypes", []):
            problems.append(f"{path}: no ReportBatchItemFailures, so Lambda ignores the batchItemFailures returned")
        concurrency = properties.get("ScalingConfig", {}).get("MaximumConcurrency")
        if concurrency is not None and not MIN_MAXIMUM_CONCURRENCY <= int(concurrency) <= MAX_MAXIMUM_CONCURRENCY:
            problems.append(f"{path}: MaximumConcurrency {concurrency} is outside 2..1000")
        queue_id = queue_id_of(properties.get("Queue") or properties.get("EventSourceArn"))
        queue = resources.get(queue_id or "", {})
        function = resources.get(function_id, {})
        if queue.get("Type") == "AWS::SQS::Queue" and "Timeout" in function.get("Properties", {}):
            visibility = int(queue["Properties"].get("VisibilityTimeout", 30))
            timeout = int(function["Properties"]["Timeout"])
            if visibility < VISIBILITY_PER_TIMEOUT * timeout:
                problems.append(
                    f"{path}: queue {queue_id} hides a message for {visibility} s, less than 6 x the "
                    f"function's {timeout} s timeout"
                )
    return problems


def check_template(template: dict[str, Any]) -> list[str]:
    problems = check_references(template)
    for path, expression in schedule_expressions(template):
        reason = check_schedule_expression(expression)
        if reason:
            problems.append(f"{path}: {reason}")
    problems.extend(check_event_sources(template))
    return problems


def main(argv: list[str] | None = None) -> int:
    paths = argv if argv is not None else sys.argv[1:]
    failed = False
    for path in paths:
        for problem in check_template(json.loads(Path(path).read_text())):
            print(f"{path}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
