"""Create the tables, queues and bucket if missing: the embedded stack, tests and first runs share this."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.objects import ensure_bucket
from chalicelib.aws.queues import provision_queues
from chalicelib.config import Settings
from chalicelib.crons.store import cron_table_definition
from chalicelib.jobs.store import jobs_table_definition


def provision(session: Any, settings: Settings) -> None:
    """Idempotent: existing tables and queues (and their data) are kept as they are."""
    dynamodb = session.client("dynamodb", region_name=settings.region)
    ensure_table(dynamodb, jobs_table_definition(settings.jobs_table))
    ensure_table(dynamodb, cron_table_definition(settings.cron_jobs_table))
    provision_queues(session.client("sqs", region_name=settings.region), settings.queue_prefix)
    ensure_bucket(session.client("s3", region_name=settings.region), settings.values_bucket, settings.region)


def ensure_table(dynamodb: Any, definition: dict[str, Any]) -> None:
    """Create the table, or add the indexes a newer version defines to the one that exists."""
    name = definition["TableName"]
    try:
        existing = dynamodb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        existing = None
    if existing is None:
        try:
            dynamodb.create_table(**definition)
        except ClientError as exc:
            # Two processes starting at once: the other one created it first.
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
    else:
        have = {index["IndexName"] for index in existing.get("GlobalSecondaryIndexes", [])}
        for index in definition.get("GlobalSecondaryIndexes", []):
            if index["IndexName"] in have:
                continue
            # DynamoDB adds one index per UpdateTable call.
            keys = {k["AttributeName"] for k in index["KeySchema"]}
            dynamodb.update_table(
                TableName=name,
                AttributeDefinitions=[a for a in definition["AttributeDefinitions"] if a["AttributeName"] in keys],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
