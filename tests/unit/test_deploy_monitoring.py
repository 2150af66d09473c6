"""The alarms and the dashboard of the packaged template (deploy/monitoring.py), read as written
and as CloudFormation resolves them with and without an alarm topic."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.jobs.lifecycle import PRIORITY_ORDER
from chalicelib.metrics import Metric
from deploy.monitoring import (
    ALARM_TOPIC,
    DASHBOARD_ID,
    FAILURE_RATE_ALARM_ID,
    HAS_ALARM_TOPIC,
    TICK_ALARM_ID,
    builtin_types,
    dead_letter_alarm_id,
    queue_age_alarm_id,
    queue_age_parameter,
    type_failure_alarm_id,
    worker_alarm_id,
)
from deploy.template import dead_letter_queue_id, queue_id, worker_id
from tests.deploy_kit import resolve

TOPIC = "arn:aws:sns:us-east-1:123456789012:tickwork-alarms"


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: r["Properties"] for n, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_one_age_alarm_per_priority_queue_with_its_threshold_a_parameter(template: dict[str, Any]) -> None:
    found = alarms(template)
    ages = {n: a for n, a in found.items() if a.get("MetricName") == "ApproximateAgeOfOldestMessage"}
    assert set(ages) == {queue_age_alarm_id(p) for p in PRIORITY_ORDER}
    for priority in PRIORITY_ORDER:
        alarm = ages[queue_age_alarm_id(priority)]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id(priority), "QueueName"]}}
        ]
        assert alarm["Threshold"] == {"Ref": queue_age_parameter(priority)}
        assert template["Parameters"][queue_age_parameter(priority)]["Type"] == "Number"
    defaults = [template["Parameters"][queue_age_parameter(p)]["Default"] for p in PRIORITY_ORDER]
    assert defaults == sorted(defaults), "urgent work may wait the least"


def test_one_alarm_per_dead_letter_queue_as_soon_as_it_holds_a_message(template: dict[str, Any]) -> None:
    found = alarms(template)
    depths = {n: a for n, a in found.items() if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"}
    assert set(depths) == {dead_letter_alarm_id(p) for p in PRIORITY_ORDER}
    for priority in PRIORITY_ORDER:
        alarm = depths[dead_letter_alarm_id(priority)]
        queue = alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        assert queue == dead_letter_queue_id(priority)
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == {"Ref": "DeadLetterThreshold"}
    assert template["Parameters"]["DeadLetterThreshold"]["Default"] == 0


def test_the_tick_alarm_fires_when_no_tick_metric_arrives(template: dict[str, Any]) -> None:
    alarm = alarms(template)[TICK_ALARM_ID]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Tickwork", Metric.TICKS.value)
    assert alarm["Dimensions"] == [{"Name": "Stage", "Value": "prod"}]
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Period"]) == ("LessThanThreshold", 1, 60)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == {"Ref": "TickMissingMinutes"}
    assert template["Parameters"]["TickMissingMinutes"]["Default"] == 3


def test_each_worker_has_an_errors_and_a_throttles_alarm(template: dict[str, Any]) -> None:
    found = alarms(template)
    for priority in PRIORITY_ORDER:
        for metric, parameter in (("Errors", "WorkerErrorsThreshold"), ("Throttles", "WorkerThrottlesThreshold")):
            alarm = found[worker_alarm_id(priority, metric)]
            assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": worker_id(priority)}}]
            assert alarm["Threshold"] == {"Ref": parameter}


def test_failure_rates_overall_and_per_builtin_type_are_metric_math_on_the_emf_counts(
    template: dict[str, Any],
) -> None:
    found = alarms(template)
    assert {"webhook", "api_call", "email", "database_query", "cleanup"} <= set(builtin_types())
    overall = found[FAILURE_RATE_ALARM_ID]
    stats = [m["MetricStat"]["Metric"] for m in overall["Metrics"] if "MetricStat" in m]
    assert sorted({m["MetricName"] for m in stats}) == ["JobsFailed", "JobsSucceeded"]
    assert {d["Value"] for m in stats for d in m["Dimensions"] if d["Name"] == "Priority"} == {
        p.value for p in PRIORITY_ORDER
    }
    for job_type in builtin_types():
        alarm = found[type_failure_alarm_id(job_type)]
        [rate] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        assert "${FailureRateMinJobs}" in rate["Expression"]["Fn::Sub"]
        assert alarm["Threshold"] == {"Ref": "FailureRateThreshold"}
        dimensions = [m["MetricStat"]["Metric"]["Dimensions"] for m in alarm["Metrics"] if "MetricStat" in m]
        assert all({"Name": "Type", "Value": job_type} in d for d in dimensions)
        assert all(not any(x["Name"] == "store_id" for x in d) for d in dimensions)


def test_every_threshold_is_a_parameter_with_a_default(template: dict[str, Any]) -> None:
    for name, alarm in alarms(template).items():
        threshold = alarm["Threshold"]
        if name == TICK_ALARM_ID:
            continue  # fewer than one tick a minute; how many minutes is the parameter
        assert set(threshold) == {"Ref"}, name
        assert "Default" in template["Parameters"][threshold["Ref"]], name


def test_without_a_topic_the_alarms_notify_no_one_and_with_one_they_notify_it(template: dict[str, Any]) -> None:
    assert template["Conditions"][HAS_ALARM_TOPIC] == {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_TOPIC}, ""]}]}
    assert template["Parameters"][ALARM_TOPIC]["Default"] == ""
    quiet = alarms(resolve(template))
    assert quiet and all("AlarmActions" not in a and "OKActions" not in a for a in quiet.values())
    loud = alarms(resolve(template, {ALARM_TOPIC: TOPIC}))
    assert set(loud) == set(quiet)
    assert all(a["AlarmActions"] == a["OKActions"] == [TOPIC] for a in loud.values())


def test_the_dashboard_shows_queues_dead_letters_outcomes_times_and_the_tick(template: dict[str, Any]) -> None:
    dashboard = template["Resources"][DASHBOARD_ID]
    assert dashboard["Type"] == "AWS::CloudWatch::Dashboard"
    body = json.loads(dashboard["Properties"]["DashboardBody"]["Fn::Sub"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    shown = json.dumps(body)
    for needle in ("ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible", "JobWaitTime"):
        assert needle in shown
    for metric in (Metric.JOBS_SUCCEEDED, Metric.JOBS_FAILED, Metric.RUN_TIME, Metric.TICK_DURATION):
        assert metric.value in shown, metric
    for priority in PRIORITY_ORDER:
        assert f"${{{queue_id(priority)}.QueueName}}" in shown
        assert f"${{{dead_letter_queue_id(priority)}.QueueName}}" in shown
    assert len(titles) == len(set(titles)) == 8
