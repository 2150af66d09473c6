"""The CloudFormation that `make package` merges into Chalice's template.

Chalice generates the functions, the API, the minute schedule and a role with its own logging
and SQS-polling policy. It knows nothing of the tables and queues, and its SQS event sources
lack `ReportBatchItemFailures` (aws/chalice#2029), so this module adds:

- the two DynamoDB tables, built from the very definitions `provision.py` creates locally
  (`jobs_table_definition`, `cron_table_definition`), with TTL and point-in-time recovery;
- the four priority queues and their DLQs, with the attributes `provision_queues` sets;
- the bucket of job values too large for their item (encrypted, private, TLS only, expiring);
- per worker event source: `FunctionResponseTypes`, `ScalingConfig.MaximumConcurrency` and the
  queue as `${Queue.Arn}` (an implicit dependency, so the queue exists before its mapping);
- one separate least-privilege `AWS::IAM::Policy` on Chalice's `DefaultRole`;
- the alarms and the dashboard of `deploy/monitoring.py`;
- an optional custom domain for the API (`deploy/domain.py`).

Implementation note: Chalice's merge replaces lists rather than appending to them. Merging `Policies` into
`DefaultRole` would drop Chalice's logging and SQS statements, so the policy is a resource of
its own; and the queue ARN is written as `Fn::Sub`, the key Chalice already uses, because a
merged `Fn::GetAtt` would sit next to Chalice's `Fn::Sub` in one (invalid) intrinsic.

Everything the template names comes from the stage's environment in `.chalice/config.json`,
which Chalice also uses to import `app.py` (queue names are baked into the event sources).

    python -m deploy.template --stage prod > merge.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalice.config import Config
from chalice.utils import to_cfn_resource_name

from chalicelib.aws.queues import DLQ_MAX_RECEIVE_COUNT, MESSAGE_RETENTION_S, QUEUE_VISIBILITY_TIMEOUT_S
from chalicelib.config import Settings, dead_letter_queue_name, queue_name
from chalicelib.crons.store import cron_table_definition
from chalicelib.jobs.lifecycle import PRIORITY_ORDER, Priority
from chalicelib.jobs.store import TTL_ATTRIBUTE, jobs_table_definition
from chalicelib.jobs.values import KEY_PREFIX as VALUES_PREFIX
from chalicelib.references import STORES_FOLDER, ReferencePolicy
from deploy.concurrency import MAXIMUM_CONCURRENCY

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIG_FILE = PROJECT_DIR / ".chalice" / "config.json"

# The SQS event source's name in Chalice's template: its function's resource name + this.
SQS_EVENT_SUFFIX = "SqsEventSource"
WORKER_FUNCTION = "worker_{priority}"  # app.py's `name=` for each queue's worker
POLICY_ID = "TickworkPolicy"
VALUES_BUCKET_ID = "JobValuesBucket"

# DynamoDB actions the code calls on its tables and their indexes (a test records the calls a
# workload of every job type makes and compares them with these lists, both ways).
DYNAMODB_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
]
# Lambda's own polling (Receive, Delete, GetQueueAttributes) is Chalice's DefaultRolePolicy;
# these are the calls the code makes: send (and forward to a DLQ), steer visibility, depths.
SQS_ACTIONS = [
    "sqs:SendMessage",
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
]


@dataclass(frozen=True)
class Stage:
    """What one Chalice stage deploys: names from its environment, timeouts from its functions."""

    name: str
    settings: Settings
    environment: dict[str, str]
    worker_timeouts_s: dict[Priority, int]
    api_stage: str = "api"  # API Gateway's stage (`api_gateway_stage`): the first part of the stage URL's path

    @property
    def parameter_path(self) -> str:
        """The stage's SSM folder (`/tickwork/prod/`): admins' {{secret:...}} and every store's namespace."""
        return ReferencePolicy.of(self.settings).stage_folder

    @property
    def signing_parameter(self) -> str:
        """The JWT secret's parameter; `<name>*` also covers the siblings a key rotation adds (`-previous`)."""
        return self.settings.jwt_secret_parameter or f"/tickwork/{self.settings.stage}/jwt-secret"


def load_stage(stage: str, config_file: Path = CONFIG_FILE) -> Stage:
    """Read a stage the way `chalice package` does (top level, then the stage, then per function)."""
    config_from_disk = json.loads(config_file.read_text())
    if stage not in config_from_disk.get("stages", {}):
        raise ValueError(f"stage {stage!r} is not in {config_file}")
    config = Config(chalice_stage=stage, config_from_disk=config_from_disk)
    environment = dict(config.environment_variables)
    timeouts = {
        priority: int(config.scope(stage, WORKER_FUNCTION.format(priority=priority.value)).lambda_timeout or 60)
        for priority in PRIORITY_ORDER
    }
    settings = Settings.from_env(environment)
    if settings.stage != stage:
        # Jobs' secrets are looked up, and granted, under /tickwork/<TICKWORK_STAGE>/.
        raise ValueError(f"stage {stage!r} sets TICKWORK_STAGE={settings.stage!r}; they must be the same")
    return Stage(
        name=stage,
        settings=settings,
        environment=environment,
        worker_timeouts_s=timeouts,
        api_stage=config.api_gateway_stage or "api",
    )


def _title(priority: Priority) -> str:
    return priority.value.capitalize()


def queue_id(priority: Priority) -> str:
    return f"{_title(priority)}Queue"


def dead_letter_queue_id(priority: Priority) -> str:
    return f"{_title(priority)}DeadLetterQueue"


def worker_id(priority: Priority) -> str:
    return to_cfn_resource_name(WORKER_FUNCTION.format(priority=priority.value))


def table_resource(definition: dict[str, Any], *, ttl_attribute: str | None) -> dict[str, Any]:
    """A CreateTable request as an AWS::DynamoDB::Table (the key and index shapes are the same)."""
    properties: dict[str, Any] = {
        key: definition[key]
        for key in ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
        if key in definition
    }
    properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    if ttl_attribute:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl_attribute, "Enabled": True}
    # The data outlives the stack: deleting or replacing the stack never drops a table.
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def queue_resources(stage: Stage) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for priority in PRIORITY_ORDER:
        resources[dead_letter_queue_id(priority)] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": dead_letter_queue_name(stage.settings.queue_prefix, priority.value),
                "MessageRetentionPeriod": MESSAGE_RETENTION_S,
            },
        }
        resources[queue_id(priority)] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": queue_name(stage.settings.queue_prefix, priority.value),
                "VisibilityTimeout": QUEUE_VISIBILITY_TIMEOUT_S,
                "MessageRetentionPeriod": MESSAGE_RETENTION_S,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dead_letter_queue_id(priority), "Arn"]},
                    "maxReceiveCount": DLQ_MAX_RECEIVE_COUNT,
                },
            },
        }
    return resources


# The longest an unfinished job's objects must live: `run_at` up to a year ahead, then a week's
# timeout and its retries. The bucket's lifecycle keeps objects this long past the retention.
LONGEST_JOB_DAYS = 365 + 8


def values_bucket_resources(stage: Stage) -> dict[str, Any]:
    """The job values bucket (chalicelib/jobs/values.py) and its TLS-only policy.

    ``cleanup`` deletes a finished job's objects with the job; the lifecycle rule is the
    backstop for jobs the table's TTL deletes, which tells no one.
    """
    rules: list[dict[str, Any]] = [
        {
            "Id": "AbortIncompleteUploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
    retention = stage.settings.job_retention_days
    if retention > 0:
        rules.append(
            {
                "Id": "ExpireWithTheJobs",
                "Status": "Enabled",
                "Prefix": VALUES_PREFIX,
                "ExpirationInDays": retention + LONGEST_JOB_DAYS,
            }
        )
    return {
        VALUES_BUCKET_ID: {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": rules},
            },
        },
        f"{VALUES_BUCKET_ID}Policy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": VALUES_BUCKET_ID},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                {"Fn::GetAtt": [VALUES_BUCKET_ID, "Arn"]},
                                {"Fn::Sub": f"${{{VALUES_BUCKET_ID}.Arn}}/*"},
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }


def _arn(service: str, resource: str) -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"}


# `Fn::Sub` with a variable map: the domain part of the sender address.
_EMAIL_DOMAIN = {"EmailDomain": {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "EmailSender"}]}]}}


def policy_document(stage: Stage) -> dict[str, Any]:
    """Only this stage's tables and indexes, queues, parameters, secrets, sender and bucket."""
    tables = ["JobsTable", "CronJobsTable"]
    table_arns: list[Any] = []
    for table in tables:
        table_arns.append({"Fn::GetAtt": [table, "Arn"]})
        table_arns.append({"Fn::Sub": f"${{{table}.Arn}}/index/*"})
    queue_arns: list[Any] = []
    for priority in PRIORITY_ORDER:
        queue_arns.append({"Fn::GetAtt": [queue_id(priority), "Arn"]})
        queue_arns.append({"Fn::GetAtt": [dead_letter_queue_id(priority), "Arn"]})
    path = stage.parameter_path
    signing = stage.signing_parameter
    statements: list[Any] = [
        {"Sid": "Tables", "Effect": "Allow", "Action": DYNAMODB_ACTIONS, "Resource": table_arns},
        {"Sid": "Queues", "Effect": "Allow", "Action": SQS_ACTIONS, "Resource": queue_arns},
        {
            "Sid": "JobValues",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
            "Resource": {"Fn::Sub": f"${{{VALUES_BUCKET_ID}.Arn}}/{VALUES_PREFIX}*"},
        },
        {
            "Sid": "JobValuesList",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": {"Fn::GetAtt": [VALUES_BUCKET_ID, "Arn"]},
            "Condition": {"StringLike": {"s3:prefix": [f"{VALUES_PREFIX}*"]}},
        },
        # The shape of chalicelib/references.py. The platform reads its signing secret (and the
        # siblings a rotation adds); jobs' {{secret:/...}} references are read under the stage's
        # folder: a store's under stores/<store>/, an admin's anywhere in it. The signing secret
        # may sit in that folder too: there only the code's rule keeps it from jobs, as IAM cannot
        # refuse a job what the function itself must read. A narrower grant (stores/* alone) would
        # break admins' references, which is why admin secrets must live under the folder. The
        # AWS-managed keys (aws/ssm, aws/secretsmanager) need no kms:Decrypt grant here.
        {
            "Sid": "SigningParameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": _arn("ssm", f"parameter{signing if signing.startswith('/') else '/' + signing}*"),
        },
        {
            "Sid": "Parameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": _arn("ssm", f"parameter{path}*"),
        },
        {
            "Sid": "Secrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            # The same folder without SSM's leading slash (chalicelib/references.py).
            "Resource": _arn("secretsmanager", f"secret:{path.removeprefix('/')}*"),
        },
        # A store's erasure (chalicelib/jobs/builtin/erase_store.py) lists and deletes what lies
        # under stores/ of this stage's folders, and nowhere else: not an admin's secrets beside
        # it, not the signing secret. GetParametersByPath is authorised on the path it reads.
        {
            "Sid": "StoreParametersErase",
            "Effect": "Allow",
            "Action": ["ssm:GetParametersByPath", "ssm:DeleteParameters"],
            "Resource": _arn("ssm", f"parameter{path}{STORES_FOLDER}/*"),
        },
        {
            "Sid": "StoreSecretsErase",
            "Effect": "Allow",
            "Action": ["secretsmanager:DeleteSecret"],
            "Resource": _arn("secretsmanager", f"secret:{path.removeprefix('/')}{STORES_FOLDER}/*"),
        },
        # ListSecrets has no resource type in IAM: it is granted on "*" or not at all. It answers
        # names, descriptions and tags of the account's secrets, never a value; the erasure
        # filters it to the store's folder and checks every name it is given against the folder.
        {
            "Sid": "SecretNames",
            "Effect": "Allow",
            "Action": ["secretsmanager:ListSecrets"],
            "Resource": "*",
        },
        {
            "Fn::If": [
                "HasEmailSender",
                {
                    "Sid": "SendEmail",
                    "Effect": "Allow",
                    "Action": ["ses:SendEmail"],
                    # The sender may be verified as an address or through its domain.
                    "Resource": [
                        _arn("ses", "identity/${EmailSender}"),
                        {"Fn::Sub": [_arn("ses", "identity/${EmailDomain}")["Fn::Sub"], _EMAIL_DOMAIN]},
                    ],
                    "Condition": {"StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}},
                },
                {"Ref": "AWS::NoValue"},
            ]
        },
        {
            "Fn::If": [
                "HasCleanupBucket",
                {
                    "Sid": "CleanupList",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CleanupBucket}"},
                    "Condition": {"StringLike": {"s3:prefix": [{"Fn::Sub": "${CleanupPrefix}*"}]}},
                },
                {"Ref": "AWS::NoValue"},
            ]
        },
        {
            "Fn::If": [
                "HasCleanupBucket",
                {
                    "Sid": "CleanupDelete",
                    "Effect": "Allow",
                    "Action": ["s3:DeleteObject"],
                    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CleanupBucket}/${CleanupPrefix}*"},
                },
                {"Ref": "AWS::NoValue"},
            ]
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def function_overrides(stage: Stage) -> dict[str, Any]:
    """What is merged into Chalice's functions: event-source settings, settings from parameters."""
    # The same names as the stage's environment; as references they make every function
    # depend on its tables.
    shared_environment = {
        "TICKWORK_JOBS_TABLE": {"Ref": "JobsTable"},
        "TICKWORK_CRON_JOBS_TABLE": {"Ref": "CronJobsTable"},
        "TICKWORK_EMAIL_SENDER": {"Ref": "EmailSender"},
        "TICKWORK_CLEANUP_BUCKET": {"Ref": "CleanupBucket"},
        "TICKWORK_VALUES_BUCKET": {"Ref": VALUES_BUCKET_ID},
        "TICKWORK_DATABASE_URL_SECRET": {"Ref": "DatabaseUrlSecret"},
    }
    overrides: dict[str, Any] = {}
    for priority in PRIORITY_ORDER:
        function_id = worker_id(priority)
        overrides[function_id] = {
            "DependsOn": [POLICY_ID],
            "Properties": {
                "Environment": {
                    "Variables": {
                        **shared_environment,
                        # api_call reaches this API through its stage URL. Only the workers run
                        # jobs; on APIHandler this reference would be a cycle (RestAPI -> APIHandler).
                        "TICKWORK_API_BASE_URL": {
                            "Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
                        },
                    }
                },
                "Events": {
                    function_id + SQS_EVENT_SUFFIX: {
                        "Properties": {
                            "Queue": {"Fn::Sub": f"${{{queue_id(priority)}.Arn}}"},
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                            "ScalingConfig": {"MaximumConcurrency": MAXIMUM_CONCURRENCY[priority]},
                        }
                    }
                },
            },
        }
    for function_id in ("APIHandler", "Tick"):
        overrides[function_id] = {
            "DependsOn": [POLICY_ID],
            "Properties": {"Environment": {"Variables": dict(shared_environment)}},
        }
    return overrides


def build_merge_template(stage: Stage) -> dict[str, Any]:
    # deploy/monitoring.py builds on this module's names, so it is imported once they exist.
    from deploy import domain, monitoring

    settings = stage.settings
    resources: dict[str, Any] = {
        "JobsTable": table_resource(jobs_table_definition(settings.jobs_table), ttl_attribute=TTL_ATTRIBUTE),
        "CronJobsTable": table_resource(cron_table_definition(settings.cron_jobs_table), ttl_attribute=None),
        **queue_resources(stage),
        **values_bucket_resources(stage),
        POLICY_ID: {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"tickwork-{stage.name}",
                "Roles": [{"Ref": "DefaultRole"}],
                "PolicyDocument": policy_document(stage),
            },
        },
        **function_overrides(stage),
        **monitoring.alarm_resources(stage),
        **monitoring.dashboard_resources(stage),
        **domain.resources(),
    }
    return {
        "Parameters": {
            "EmailSender": {
                "Type": "String",
                "Default": "",
                "Description": "Address the email job type sends from (TICKWORK_EMAIL_SENDER), verified in SES; "
                "empty: no SES permission.",
            },
            "CleanupBucket": {
                "Type": "String",
                "Default": "",
                "Description": "Bucket whose old objects the cleanup job type may list and delete; empty: none.",
            },
            "DatabaseUrlSecret": {
                "Type": "String",
                "Default": "",
                "Description": "SSM parameter (under the stage's /tickwork/<stage>/) or Secrets Manager secret "
                "(tickwork/<stage>/...) holding database_query's PostgreSQL URL (TICKWORK_DATABASE_URL_SECRET).",
            },
            "CleanupPrefix": {
                "Type": "String",
                "Default": "",
                "Description": "Key prefix within CleanupBucket that cleanup may touch (empty: the whole bucket).",
            },
            **monitoring.parameters(),
            **domain.parameters(),
        },
        "Conditions": {
            "HasEmailSender": {"Fn::Not": [{"Fn::Equals": [{"Ref": "EmailSender"}, ""]}]},
            "HasCleanupBucket": {"Fn::Not": [{"Fn::Equals": [{"Ref": "CleanupBucket"}, ""]}]},
            **monitoring.conditions(),
            **domain.conditions(),
        },
        "Resources": resources,
        "Outputs": {
            "JobsTableName": {"Value": {"Ref": "JobsTable"}},
            "CronJobsTableName": {"Value": {"Ref": "CronJobsTable"}},
            "JobValuesBucketName": {"Value": {"Ref": VALUES_BUCKET_ID}},
            **{f"{queue_id(p)}Url": {"Value": {"Ref": queue_id(p)}} for p in PRIORITY_ORDER},
            **domain.outputs(stage.api_stage),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.template", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    args = parser.parse_args(argv)
    json.dump(build_merge_template(load_stage(args.stage)), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
