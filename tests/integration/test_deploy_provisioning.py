"""The packaged template against moto: its tables and queues are what provision creates, and its
policy allows every call the app makes and nothing else."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import runtime
from chalicelib.aws.provision import provision
from chalicelib.config import Settings, dead_letter_queue_name, queue_name
from chalicelib.jobs.lifecycle import PRIORITY_ORDER
from tests.conftest import Stack
from tests.deploy_kit import CHALICE_SQS_ACTIONS, statements

# IAM authorises some calls by another action's name.
IAM_ACTION_OF_CALL = {
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:DeleteObjects": "s3:DeleteObject",
    # A transaction is authorised item by item: the code's transactions only update.
    "dynamodb:TransactWriteItems": "dynamodb:UpdateItem",
}
SENDER = "jobs@shop.example.com"
BUCKET = "shop-exports"


def _describe(session: Any, settings: Settings) -> dict[str, Any]:
    """Tables (keys, attributes, indexes, billing) and queues (attributes, DLQ) as AWS reports them."""
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    tables = {}
    for name in (settings.jobs_table, settings.cron_jobs_table):
        table = dynamodb.describe_table(TableName=name)["Table"]
        tables[name] = {
            "KeySchema": table["KeySchema"],
            "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
            "GlobalSecondaryIndexes": sorted(
                ({k: i[k] for k in ("IndexName", "KeySchema", "Projection")} for i in table["GlobalSecondaryIndexes"]),
                key=lambda i: i["IndexName"],
            ),
            "BillingMode": table["BillingModeSummary"]["BillingMode"],
        }
    queues = {}
    for priority in PRIORITY_ORDER:
        for name in (
            queue_name(settings.queue_prefix, priority.value),
            dead_letter_queue_name(settings.queue_prefix, priority.value),
        ):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
            queues[name] = {
                "VisibilityTimeout": attributes["VisibilityTimeout"],
                "MessageRetentionPeriod": attributes["MessageRetentionPeriod"],
                "maxReceiveCount": redrive.get("maxReceiveCount"),
                "deadLetterTarget": redrive.get("deadLetterTargetArn", "").rsplit(":", 1)[-1] or None,
            }
    return {"tables": tables, "queues": queues}


def test_the_templates_tables_and_queues_are_what_provision_creates(
    template: dict[str, Any], stage_settings: Settings
) -> None:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        provision(session, stage_settings)
        provisioned = _describe(session, stage_settings)
    # moto's CloudFormation cannot run the SAM transform: create the plain resources through it.
    plain = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            name: resource
            for name, resource in template["Resources"].items()
            if resource["Type"] in ("AWS::DynamoDB::Table", "AWS::SQS::Queue")
        },
    }
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        cloudformation = session.client("cloudformation")
        cloudformation.create_stack(StackName="tickwork-prod", TemplateBody=json.dumps(plain))
        assert (
            cloudformation.describe_stacks(StackName="tickwork-prod")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        )
        deployed = _describe(session, stage_settings)
    assert deployed == provisioned
    assert len(deployed["tables"]["tickwork-prod-jobs"]["GlobalSecondaryIndexes"]) == 7
    assert deployed["queues"]["tickwork-prod-urgent"]["deadLetterTarget"] == "tickwork-prod-urgent-dlq"


@pytest.fixture
def recorded_calls(stack: Stack) -> Iterator[set[str]]:
    """Every AWS action the app's runtime performs from here on (the test poller's own calls excluded)."""
    calls: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        action = f"{model.service_model.signing_name}:{model.name}"
        calls.add(IAM_ACTION_OF_CALL.get(action, action))

    # Clients made before this (provisioning, the poller standing in for Lambda) do not see it.
    stack.session.events.register("before-call", record)
    yield calls


def test_the_policy_allows_every_call_the_app_makes_and_nothing_else(
    template: dict[str, Any], stack: Stack, recorded_calls: set[str], admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What an operator sets up, through a session of its own (not recorded).
    setup = boto3.session.Session(region_name="us-east-1")
    setup.client("secretsmanager").create_secret(Name="tickwork/prod/shop-key", SecretString="s3cret")
    setup.client("ses").verify_email_identity(EmailAddress=SENDER)
    setup.client("s3").create_bucket(Bucket=BUCKET)
    setup.client("s3").put_object(Bucket=BUCKET, Key="tmp/old.csv", Body=b"x")
    stack.configure(monkeypatch, email_sender=SENDER, cleanup_bucket=BUCKET)

    # A workload through the real handlers: schedule, run, cancel, stats, cron jobs, the tick,
    # secrets, and the built-in types that reach other services (email, cleanup).
    done = stack.schedule(admin, payload={"count": 2})
    later = stack.schedule(admin, delay=600)
    mail = stack.schedule(admin, type="email", payload={"to": "ops@example.com", "subject": "hi", "body": "done"})
    # A payload too large for its item: put in the values bucket, read back by the worker and the API.
    large = stack.schedule(admin, type="plugin:test-kit:chatty", payload={"pad": "p" * 4096})
    # A batch: its children in a BatchWriteItem and a SendMessageBatch, each end counted in a transaction.
    batch = {
        "store_id": "store-a",
        "jobs": [{"type": "plugin:my-plugin:import"}] * 2,
        "on_complete": {"type": "plugin:my-plugin:import"},
    }
    assert stack.post("/api/background-jobs/batches", batch, admin).status_code == 201
    assert stack.poller.drain() >= 1
    assert stack.get(f"/api/background-jobs/{done['id']}", admin).status_code == 200
    assert stack.post(f"/api/background-jobs/{later['id']}/cancel", {}, admin).status_code == 200
    assert stack.get("/api/background-jobs/stats", admin).status_code == 200
    assert stack.get("/api/background-jobs?status=completed", admin).status_code == 200
    cron_fields = {
        "name": "sync",
        "cron_expression": "*/5 * * * *",
        "job_type": "plugin:my-plugin:import",
        "store_id": "store-a",
        "configuration": {"count": 1},
    }
    cron = stack.post("/api/cron-jobs", cron_fields, admin).json_body["job"]
    assert stack.post(f"/api/cron-jobs/{cron['id']}/run", {}, admin).status_code == 202
    assert stack.get(f"/api/cron-jobs/{cron['id']}/executions", admin).status_code == 200
    stack.poller.drain()
    runtime.current().tick.run_tick(runtime.current().clock.now())
    headers = {"Authorization": f"Bearer {admin}"}
    assert stack.client.http.delete(f"/api/cron-jobs/{cron['id']}", headers=headers).status_code == 200
    assert (
        runtime.current().secrets.platform_secret("tickwork/prod/shop-key") == "s3cret"
    )  # SSM first, then Secrets Manager
    sweep = stack.schedule(
        admin,
        type="cleanup",
        payload={"statuses": ["completed"], "older_than_days": 1, "s3": {"prefix": "tmp/", "older_than_days": 0}},
        maxRetries=0,
    )
    stack.poller.drain()
    for job_id in (mail["id"], sweep["id"], large["id"]):
        finished = stack.job(job_id)
        assert finished is not None and finished.status.value == "completed", finished
    assert stack.job(sweep["id"]).result["s3_deleted"] == 1
    # A store's erasure: its jobs, log items, objects, cron jobs, parameters and secrets.
    folder = f"tickwork/{stack.runtime.settings.stage}/stores/store-a/"
    setup.client("ssm").put_parameter(Name=f"/{folder}key", Value="v", Type="SecureString")
    setup.client("secretsmanager").create_secret(Name=f"{folder}key", SecretString="v")
    stack.schedule(admin, type="plugin:test-kit:chatty", payload={"lines": 1, "pad": "p" * 4096})
    stack.schedule(admin, delay=600)  # pending when the erase comes: cancelled, then deleted
    stack.schedule(admin, debounce={"key": "to erase", "seconds": 600})  # its window item goes too
    stack.post("/api/cron-jobs", {**cron_fields, "name": "to erase"}, admin)
    stack.poller.drain()
    erased = stack.client.http.delete("/api/admin/stores/store-a/data", headers=headers)
    assert erased.status_code == 202, erased.json_body
    stack.poller.drain()
    report = stack.job(erased.json_body["job"]["id"]).result
    assert report["complete"] is True and all(report["deleted"].values()), report

    granted = {a for s in statements(template) for a in s["Action"]} | CHALICE_SQS_ACTIONS
    assert recorded_calls <= granted, f"not granted: {sorted(recorded_calls - granted)}"
    mine = {a for s in statements(template) for a in s["Action"]}
    assert mine - recorded_calls == set(), f"granted but never called: {sorted(mine - recorded_calls)}"
