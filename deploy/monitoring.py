"""The alarms and the CloudWatch dashboard the merge template adds (docs/operations.md, "Alarms").

Each alarm's threshold is a stack parameter with a default; `AlarmTopicArn` (empty: none) takes
their notifications, through the `HasAlarmTopic` condition. The job alarms read the EMF metrics
of chalicelib/metrics.py; the queue and function alarms read what SQS and Lambda publish.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.jobs.builtin import register_builtin_types
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority
from chalicelib.jobs.registry import JobTypeRegistry
from chalicelib.metrics import STAGE_DIMENSION, Metric
from deploy.template import Stage, dead_letter_queue_id, queue_id, worker_id

ALARM_TOPIC = "AlarmTopicArn"
HAS_ALARM_TOPIC = "HasAlarmTopic"
DASHBOARD_ID = "Dashboard"
TICK_ALARM_ID = "TickMissingAlarm"
FAILURE_RATE_ALARM_ID = "JobFailureRateAlarm"

# How old the oldest message of each queue may get, by default, before its alarm: urgent work is
# expected within a minute or two, low work may wait behind a backlog.
QUEUE_AGE_DEFAULTS_S: dict[Priority, int] = {
    Priority.URGENT: 120,
    Priority.HIGH: 300,
    Priority.NORMAL: 900,
    Priority.LOW: 3600,
}
FAILURE_RATE_PERIOD_S = 900


def _title(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("-", "_").split("_"))


def queue_age_parameter(priority: Priority) -> str:
    return f"{_title(priority.value)}QueueAgeThreshold"


def queue_age_alarm_id(priority: Priority) -> str:
    return f"{_title(priority.value)}QueueAgeAlarm"


def dead_letter_alarm_id(priority: Priority) -> str:
    return f"{_title(priority.value)}DeadLetterAlarm"


def worker_alarm_id(priority: Priority, metric: str) -> str:
    return f"{_title(priority.value)}Worker{metric}Alarm"


def type_failure_alarm_id(job_type: str) -> str:
    return f"{_title(job_type)}FailureRateAlarm"


def builtin_types() -> list[str]:
    """The built-in types' names: each gets a failure-rate alarm (plugins' share the overall one)."""
    registry = JobTypeRegistry()
    register_builtin_types(registry)
    return [job_type.name for job_type in registry.all()]


def parameters() -> dict[str, Any]:
    def number(default: float, description: str) -> dict[str, Any]:
        return {"Type": "Number", "Default": default, "MinValue": 0, "Description": description}

    found: dict[str, Any] = {
        ALARM_TOPIC: {
            "Type": "String",
            "Default": "",
            "Description": "SNS topic ARN the alarms notify (alarm and OK); empty: the alarms notify no one.",
        },
    }
    for priority in PRIORITY_ORDER:
        found[queue_age_parameter(priority)] = number(
            QUEUE_AGE_DEFAULTS_S[priority],
            f"Seconds the oldest message of the {priority.value} queue may wait before its alarm.",
        )
    found.update(
        {
            "DeadLetterThreshold": number(0, "Messages a dead-letter queue may hold before its alarm (0: any)."),
            "TickMissingMinutes": {
                "Type": "Number",
                "Default": 3,
                "MinValue": 1,
                "Description": "Minutes without a completed tick before the tick alarm.",
            },
            "WorkerErrorsThreshold": number(
                0, "Errors (crashes, timeouts) of one worker in 5 minutes before its alarm."
            ),
            "WorkerThrottlesThreshold": number(0, "Throttled invocations of one worker in 5 minutes before its alarm."),
            "FailureRateThreshold": number(20, "Percent of finished jobs failed in 15 minutes before the alarm."),
            "FailureRateMinJobs": number(10, "Least finished jobs in 15 minutes for the failure rate to count."),
        }
    )
    return found


def conditions() -> dict[str, Any]:
    return {HAS_ALARM_TOPIC: {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_TOPIC}, ""]}]}}


def _actions() -> dict[str, Any]:
    topic = {"Fn::If": [HAS_ALARM_TOPIC, [{"Ref": ALARM_TOPIC}], {"Ref": "AWS::NoValue"}]}
    return {"AlarmActions": topic, "OKActions": topic}


def _alarm(description: str, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"AlarmDescription": description, **_actions(), **properties},
    }


def _metric_alarm(
    description: str,
    *,
    namespace: str,
    metric: str,
    dimensions: list[dict[str, Any]],
    statistic: str,
    period: int,
    threshold: Any,
    comparison: str = "GreaterThanThreshold",
    evaluation_periods: Any = 1,
    missing: str = "notBreaching",
) -> dict[str, Any]:
    return _alarm(
        description,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        Statistic=statistic,
        Period=period,
        EvaluationPeriods=evaluation_periods,
        DatapointsToAlarm=evaluation_periods,
        Threshold=threshold,
        ComparisonOperator=comparison,
        TreatMissingData=missing,
    )


def _stat(ident: str, namespace: str, metric: str, dimensions: dict[str, str], period: int) -> dict[str, Any]:
    return {
        "Id": ident,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
            },
            "Period": period,
            "Stat": "Sum",
        },
    }


def _failure_rate_alarm(description: str, failed: list[dict[str, Any]], succeeded: list[dict[str, Any]]) -> Any:
    """Failed / (failed + succeeded), in percent, once at least FailureRateMinJobs finished."""
    f = " + ".join(f"FILL({m['Id']}, 0)" for m in failed)
    s = " + ".join(f"FILL({m['Id']}, 0)" for m in succeeded)
    expression = {
        "Fn::Sub": f"IF(({f}) + ({s}) >= ${{FailureRateMinJobs}}, 100 * ({f}) / (({f}) + ({s})), 0)",
    }
    rate = {"Id": "rate", "Expression": expression, "Label": "failed %", "ReturnData": True}
    return _alarm(
        description,
        Metrics=[*failed, *succeeded, rate],
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold={"Ref": "FailureRateThreshold"},
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )


def alarm_resources(stage: Stage) -> dict[str, Any]:
    namespace = stage.settings.metrics_namespace
    stage_dimension = {STAGE_DIMENSION: stage.settings.stage}
    resources: dict[str, Any] = {}
    for priority in PRIORITY_ORDER:
        resources[queue_age_alarm_id(priority)] = _metric_alarm(
            f"The oldest message of the {priority.value} queue waits longer than its threshold: "
            "the workers fall behind, or are failing or throttled.",
            namespace="AWS/SQS",
            metric="ApproximateAgeOfOldestMessage",
            dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id(priority), "QueueName"]}}],
            statistic="Maximum",
            period=60,
            evaluation_periods=3,
            threshold={"Ref": queue_age_parameter(priority)},
        )
        resources[dead_letter_alarm_id(priority)] = _metric_alarm(
            f"The {priority.value} dead-letter queue holds messages no worker could run "
            "(docs/operations.md, 'Messages in a dead-letter queue').",
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letter_queue_id(priority), "QueueName"]}}],
            statistic="Maximum",
            period=300,
            threshold={"Ref": "DeadLetterThreshold"},
        )
        for metric, parameter, why in (
            ("Errors", "WorkerErrorsThreshold", "crashed or timed out (failed jobs are not errors)"),
            ("Throttles", "WorkerThrottlesThreshold", "was throttled: the account's concurrency is exhausted"),
        ):
            resources[worker_alarm_id(priority, metric)] = _metric_alarm(
                f"The {priority.value} worker {why}.",
                namespace="AWS/Lambda",
                metric=metric,
                dimensions=[{"Name": "FunctionName", "Value": {"Ref": worker_id(priority)}}],
                statistic="Sum",
                period=300,
                threshold={"Ref": parameter},
            )
    resources[TICK_ALARM_ID] = _metric_alarm(
        "No tick ran to its end: cron jobs are not firing and the sweeps do not run.",
        namespace=namespace,
        metric=Metric.TICKS.value,
        dimensions=[{"Name": name, "Value": value} for name, value in stage_dimension.items()],
        statistic="Sum",
        period=60,
        evaluation_periods={"Ref": "TickMissingMinutes"},
        threshold=1,
        comparison="LessThanThreshold",
        missing="breaching",
    )
    by_priority = [{**stage_dimension, "Priority": p.value} for p in PRIORITY_ORDER]
    resources[FAILURE_RATE_ALARM_ID] = _failure_rate_alarm(
        "More than FailureRateThreshold percent of the jobs that finished in 15 minutes failed.",
        [_stat(f"f{i}", namespace, Metric.JOBS_FAILED, d, FAILURE_RATE_PERIOD_S) for i, d in enumerate(by_priority)],
        [_stat(f"s{i}", namespace, Metric.JOBS_SUCCEEDED, d, FAILURE_RATE_PERIOD_S) for i, d in enumerate(by_priority)],
    )
    for job_type in builtin_types():
        by_type = {**stage_dimension, "Type": job_type}
        resources[type_failure_alarm_id(job_type)] = _failure_rate_alarm(
            f"More than FailureRateThreshold percent of the {job_type} jobs that finished in 15 minutes failed.",
            [_stat("f", namespace, Metric.JOBS_FAILED, by_type, FAILURE_RATE_PERIOD_S)],
            [_stat("s", namespace, Metric.JOBS_SUCCEEDED, by_type, FAILURE_RATE_PERIOD_S)],
        )
    return resources


def _widget(title: str, x: int, y: int, metrics: list[Any], *, stat: str, period: int = 300) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stacked": False,
            "stat": stat,
            "period": period,
            "metrics": metrics,
        },
    }


def _search(namespace: str, stage: str, dimension: str, metric: Metric, stat: str, period: int = 300) -> str:
    return f"SEARCH('{{{namespace},{STAGE_DIMENSION},{dimension}}} {STAGE_DIMENSION}=\"{stage}\" MetricName=\"{metric.value}\"', '{stat}', {period})"


def dashboard_body(stage: Stage) -> str:
    """The dashboard's JSON, for `Fn::Sub` (the region and the queue names are filled in by it)."""
    namespace, name = stage.settings.metrics_namespace, stage.settings.stage
    queues = [
        ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"${{{queue_id(p)}.QueueName}}", {"label": p.value}]
        for p in PRIORITY_ORDER
    ]
    dead_letters = [
        [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            f"${{{dead_letter_queue_id(p)}.QueueName}}",
            {"label": f"{p.value} DLQ"},
        ]
        for p in PRIORITY_ORDER
    ]
    outcomes = [
        [{"expression": f"SUM({_search(namespace, name, 'Priority', metric, 'Sum')})", "label": metric.value}]
        for metric in (
            Metric.JOBS_SCHEDULED,
            Metric.JOBS_STARTED,
            Metric.JOBS_SUCCEEDED,
            Metric.JOBS_FAILED,
            Metric.JOBS_RETRIED,
            Metric.JOBS_CANCELLED,
        )
    ]
    waits = [
        [namespace, Metric.WAIT_TIME.value, STAGE_DIMENSION, name, "Priority", p.value, {"label": f"{p.value} p90"}]
        for p in PRIORITY_ORDER
    ]
    runs = [[{"expression": _search(namespace, name, "Type", Metric.RUN_TIME, "p90"), "label": "p90"}]]
    failures = [[{"expression": _search(namespace, name, "Type", Metric.JOBS_FAILED, "Sum"), "label": ""}]]
    tick = [
        [namespace, Metric.TICK_DURATION.value, STAGE_DIMENSION, name, {"stat": "Maximum", "label": "tick ms (max)"}],
        [
            namespace,
            Metric.CRON_FIRING_LATENESS.value,
            STAGE_DIMENSION,
            name,
            {"stat": "p99", "label": "lateness s (p99)", "yAxis": "right"},
        ],
    ]
    firing = [
        [namespace, Metric.SLOTS_FIRED.value, STAGE_DIMENSION, name],
        [namespace, Metric.CRON_JOBS_DEFERRED.value, STAGE_DIMENSION, name],
        [namespace, Metric.TICK_ERRORS.value, STAGE_DIMENSION, name],
        [namespace, Metric.RATE_LIMIT_REFUSALS.value, STAGE_DIMENSION, name],
    ]
    widgets = [
        _widget("Age of the oldest message (s)", 0, 0, queues, stat="Maximum", period=60),
        _widget("Dead-letter queue depth", 12, 0, dead_letters, stat="Maximum", period=300),
        _widget("Jobs by outcome", 0, 6, outcomes, stat="Sum"),
        _widget("Failed jobs by type", 12, 6, failures, stat="Sum"),
        _widget("Wait time, first attempts (s)", 0, 12, waits, stat="p90"),
        _widget("Run time by type (s)", 12, 12, runs, stat="p90"),
        _widget("Tick duration and firing lateness", 0, 18, tick, stat="Maximum", period=60),
        _widget("Slots fired, deferred, tick errors, rate-limit refusals", 12, 18, firing, stat="Sum", period=60),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def dashboard_resources(stage: Stage) -> dict[str, Any]:
    return {
        DASHBOARD_ID: {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardName": {"Fn::Sub": "${AWS::StackName}"},
                "DashboardBody": {"Fn::Sub": dashboard_body(stage)},
            },
        }
    }
