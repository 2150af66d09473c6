"""The deployable package (`make package`): `chalice package` with deploy/'s merge template.

The prod stage is packaged once per session by tests/deploy_kit.py (about 10-20 s: Chalice
resolves and vendors the requirements). The template is checked as written; the zip is unpacked
and imported, plugins and all, by a clean interpreter that sees only the zip and what the Lambda
runtime brings. tests/integration/test_deploy_provisioning.py provisions it in-process.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

import app as app_module
from chalicelib.aws.queues import DLQ_MAX_RECEIVE_COUNT, MESSAGE_RETENTION_S
from chalicelib.config import SQS_MAX_VISIBILITY_S, Settings
from chalicelib.jobs.lifecycle import PRIORITY_ORDER
from deploy.checks import check_template
from deploy.package import Packaged, cfn_lint, strip_bytecode
from deploy.template import (
    LONGEST_JOB_DAYS,
    POLICY_ID,
    TTL_ATTRIBUTE,
    VALUES_BUCKET_ID,
    dead_letter_queue_id,
    load_stage,
    queue_id,
    worker_id,
)
from devstack import stack
from tests.conftest import SECRET
from tests.deploy_kit import CHALICE_SQS_ACTIONS, statements

# The Lambda Python runtime brings these; everything else must be in the zip.
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath")
# Chalice zips all of chalicelib/, so the development stack and the CLI live in devstack/ instead;
# these are the names they once had in chalicelib/ (prefixes of zip entries).
DEVELOPMENT_ONLY_PATHS = (
    "devstack/",
    "tickwork_testing/",
    "plugins/my_plugin/tests/",
    "plugins/inventory_sync/tests/",
    "chalicelib/local",
    "chalicelib/devserver",
    "chalicelib/cli",
    "chalicelib/console",
)
CHALICE_LOG_ACTIONS = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


# --- stages -------------------------------------------------------------------------------


def test_make_run_uses_the_dev_stages_names_so_data_is_shared() -> None:
    dev, defaults = load_stage("dev").settings, Settings()
    assert (dev.jobs_table, dev.cron_jobs_table, dev.queue_prefix) == (
        defaults.jobs_table,
        defaults.cron_jobs_table,
        defaults.queue_prefix,
    )
    assert dev.jwt_secret_parameter == stack.SECRET_PARAMETER
    prod = load_stage("prod").settings
    assert {prod.jobs_table, prod.cron_jobs_table, prod.queue_prefix}.isdisjoint(
        {dev.jobs_table, dev.cron_jobs_table, dev.queue_prefix}
    ), "two stages in one account must not share a table or a queue"


def test_make_run_on_real_aws_keeps_boto3s_credentials_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AWS_PROFILE": "tickwork-dev", "AWS_REGION": "eu-west-1", "TICKWORK_LOCAL_AWS": "1"}
    monkeypatch.setattr(os, "environ", env)
    assert stack.real_aws_requested()
    assert stack.prepare_environment(None, real_aws=True) is None  # no moto
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "TICKWORK_JWT_SECRET"} & set(env)
    assert env["TICKWORK_JWT_SECRET_PARAMETER"] == "/tickwork/dev/jwt-secret"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"


# --- validation ---------------------------------------------------------------------------


def test_the_packaged_template_passes_cfn_lint(packaged: Packaged) -> None:
    assert importlib.util.find_spec("cfnlint"), "cfn-lint is a pinned dev requirement"
    assert cfn_lint(packaged.template) is None


def test_the_packaged_template_passes_the_checks_cfn_lint_does_not_make(template: dict[str, Any]) -> None:
    assert check_template(template) == []


def _break(template: dict[str, Any], how: str) -> dict[str, Any]:
    broken = copy.deepcopy(template)
    resources = broken["Resources"]
    low_event = resources[worker_id(PRIORITY_ORDER[-1])]["Properties"]["Events"]
    event = next(iter(low_event.values()))["Properties"]
    if how == "dangling Ref":
        resources["TickworkPolicy"]["Properties"]["Roles"] = [{"Ref": "DefaultRoel"}]
    elif how == "dangling GetAtt":
        resources["LowQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] = {"Fn::GetAtt": ["LowDLQ", "Arn"]}
    elif how == "dangling Sub variable":
        event["Queue"] = {"Fn::Sub": "${LowQeue.Arn}"}
    elif how == "dangling DependsOn":
        resources["Tick"]["DependsOn"] = ["TickPolicy"]
    elif how == "override of a missing resource":
        resources["WorkerLowe"] = {"Properties": {"Timeout": 1}}
    elif how == "unknown condition":
        resources["TickworkPolicy"]["Properties"]["PolicyDocument"]["Statement"][-1]["Fn::If"][0] = "HasBucket"
    elif how == "resource on an unknown condition":
        resources["ApiDomainName"]["Condition"] = "HasDomain"
    elif how == "dangling SAM reference":
        resources["ApiBasePathMapping"]["Properties"]["Stage"] = {"Ref": "RestApi.Stage"}
    elif how == "plural unit for 1":
        resources["Tick"]["Properties"]["Events"]["TickEvent"]["Properties"]["Schedule"] = "rate(1 minutes)"
    elif how == "singular unit for 5":
        resources["Tick"]["Properties"]["Events"]["TickEvent"]["Properties"]["Schedule"] = "rate(5 minute)"
    elif how == "five-field cron":
        resources["Tick"]["Properties"]["Events"]["TickEvent"]["Properties"]["Schedule"] = "cron(* * * * *)"
    elif how == "batch above 10 without a window":
        event["BatchSize"] = 20
        event["MaximumBatchingWindowInSeconds"] = 0
    elif how == "no partial batch responses":
        event["FunctionResponseTypes"] = []
    elif how == "concurrency below 2":
        event["ScalingConfig"] = {"MaximumConcurrency": 1}
    elif how == "visibility below 6x timeout":
        resources["LowQueue"]["Properties"]["VisibilityTimeout"] = 900
    return broken


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("dangling Ref", "Ref to 'DefaultRoel'"),
        ("dangling GetAtt", "Fn::GetAtt on 'LowDLQ'"),
        ("dangling Sub variable", "${LowQeue.Arn}"),
        ("dangling DependsOn", "'TickPolicy', which is not a resource"),
        ("override of a missing resource", "WorkerLowe has no Type"),
        ("unknown condition", "condition 'HasBucket'"),
        ("resource on an unknown condition", "ApiDomainName: condition 'HasDomain'"),
        ("dangling SAM reference", "Ref to 'RestApi.Stage'"),
        ("plural unit for 1", "singular unit for 1"),
        ("singular unit for 5", "singular unit for 1"),
        ("five-field cron", "six fields"),
        ("batch above 10 without a window", "needs MaximumBatchingWindowInSeconds"),
        ("no partial batch responses", "no ReportBatchItemFailures"),
        ("concurrency below 2", "MaximumConcurrency 1"),
        ("visibility below 6x timeout", "less than 6 x the function's 900 s timeout"),
    ],
)
def test_the_checks_catch_each_mistake(template: dict[str, Any], how: str, expected: str) -> None:
    problems = check_template(_break(template, how))
    assert len(problems) == 1, problems
    assert expected in problems[0]


# --- tables and queues --------------------------------------------------------------------


def test_tables_keep_their_data_and_have_point_in_time_recovery(template: dict[str, Any]) -> None:
    # moto's CloudFormation ignores these two properties, so they are checked as written.
    tables = resources_of(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"JobsTable", "CronJobsTable"}
    for table in tables.values():
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert tables["JobsTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": TTL_ATTRIBUTE,
        "Enabled": True,
    }


def test_the_values_bucket_is_private_encrypted_tls_only_and_expires_with_the_jobs(
    template: dict[str, Any], stage_settings: Settings
) -> None:
    [(name, bucket)] = resources_of(template, "AWS::S3::Bucket").items()
    assert name == VALUES_BUCKET_ID and bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    properties = bucket["Properties"]
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    expiry = [r for r in properties["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    assert expiry == [
        {
            "Id": "ExpireWithTheJobs",
            "Status": "Enabled",
            "Prefix": "jobs/",
            "ExpirationInDays": stage_settings.job_retention_days + LONGEST_JOB_DAYS,
        }
    ]
    [policy] = resources_of(template, "AWS::S3::BucketPolicy").values()
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for function in resources_of(template, "AWS::Serverless::Function").values():
        assert function["Properties"]["Environment"]["Variables"]["TICKWORK_VALUES_BUCKET"] == {"Ref": VALUES_BUCKET_ID}


def test_queues_hide_six_timeouts_and_redrive_after_every_receive(
    template: dict[str, Any], stage_settings: Settings
) -> None:
    # Every attempt is a receive; so is every visibility hop of a delay (at most 12 h each, for
    # as long as SQS keeps the message) and every poll of a buffer_one run waiting for its
    # predecessor, which may run for a whole worker timeout plus its lease.
    hops = MESSAGE_RETENTION_S // SQS_MAX_VISIBILITY_S
    worker_timeout = max(template["Resources"][worker_id(p)]["Properties"]["Timeout"] for p in PRIORITY_ORDER)
    buffered_polls = (worker_timeout + stage_settings.lease_s) // stage_settings.run_after_poll_s
    most_receives = stage_settings.max_retries_limit + 1 + hops + buffered_polls
    for priority in PRIORITY_ORDER:
        worker = template["Resources"][worker_id(priority)]["Properties"]
        queue = template["Resources"][queue_id(priority)]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
        receives = queue["RedrivePolicy"]["maxReceiveCount"]
        assert receives == DLQ_MAX_RECEIVE_COUNT
        assert receives > most_receives
        assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [dead_letter_queue_id(priority), "Arn"]}


def test_workers_report_partial_batches_with_concurrency_by_priority(template: dict[str, Any]) -> None:
    concurrencies = []
    for priority in PRIORITY_ORDER:
        function = template["Resources"][worker_id(priority)]
        (event,) = function["Properties"]["Events"].values()
        assert event["Type"] == "SQS"
        properties = event["Properties"]
        assert properties["Queue"] == {"Fn::Sub": f"${{{queue_id(priority)}.Arn}}"}
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["BatchSize"] == app_module.BATCH_SIZE
        assert function["Properties"]["Handler"] == f"app.worker_{priority.value}"
        concurrencies.append(properties["ScalingConfig"]["MaximumConcurrency"])
    assert concurrencies == sorted(concurrencies, reverse=True)
    assert len(set(concurrencies)) == len(concurrencies), "urgent > high > normal > low"
    assert min(concurrencies) >= 2


def test_the_tick_runs_every_minute(template: dict[str, Any]) -> None:
    tick = template["Resources"]["Tick"]["Properties"]
    assert tick["Handler"] == "app.tick"
    assert tick["Events"]["TickEvent"] == {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}


def test_every_function_gets_the_stage_configuration(template: dict[str, Any]) -> None:
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["TICKWORK_JOBS_TABLE"] == {"Ref": "JobsTable"}, name
        assert variables["TICKWORK_CRON_JOBS_TABLE"] == {"Ref": "CronJobsTable"}, name
        assert variables["TICKWORK_QUEUE_PREFIX"] == "tickwork-prod-", name
        assert variables["TICKWORK_JWT_SECRET_PARAMETER"] == "/tickwork/prod/jwt-secret", name
        assert variables["TICKWORK_STAGE"] == "prod", name
        assert variables["TICKWORK_EMAIL_SENDER"] == {"Ref": "EmailSender"}, name
        assert variables["TICKWORK_CLEANUP_BUCKET"] == {"Ref": "CleanupBucket"}, name
        assert variables["TICKWORK_DATABASE_URL_SECRET"] == {"Ref": "DatabaseUrlSecret"}, name
        assert "TICKWORK_JWT_SECRET" not in variables, "the secret comes from SSM, never the template"
        assert function["DependsOn"] == [POLICY_ID], name


# --- IAM ----------------------------------------------------------------------------------


def test_chalices_own_logging_and_sqs_permissions_survive_the_merge(template: dict[str, Any]) -> None:
    (policy,) = template["Resources"]["DefaultRole"]["Properties"]["Policies"]
    granted = {action for s in policy["PolicyDocument"]["Statement"] for action in s["Action"]}
    assert granted >= CHALICE_LOG_ACTIONS | CHALICE_SQS_ACTIONS


def test_the_policy_grants_only_this_stacks_resources(template: dict[str, Any]) -> None:
    policy = template["Resources"][POLICY_ID]["Properties"]
    assert policy["Roles"] == [{"Ref": "DefaultRole"}]
    by_sid = {s["Sid"]: s for s in statements(template)}
    # ListSecrets alone: IAM knows no resource for it (it answers names, never values).
    assert by_sid.pop("SecretNames") == {
        "Sid": "SecretNames",
        "Effect": "Allow",
        "Action": ["secretsmanager:ListSecrets"],
        "Resource": "*",
    }
    for statement in by_sid.values():
        actions = statement["Action"]
        assert all("*" not in action for action in actions), statement
        assert statement["Resource"] != "*" and "*" not in statement["Resource"], statement
    tables = {json.dumps(r, sort_keys=True) for r in by_sid["Tables"]["Resource"]}
    assert tables == {
        json.dumps(r, sort_keys=True)
        for t in ("JobsTable", "CronJobsTable")
        for r in ({"Fn::GetAtt": [t, "Arn"]}, {"Fn::Sub": f"${{{t}.Arn}}/index/*"})
    }
    queues = {r["Fn::GetAtt"][0] for r in by_sid["Queues"]["Resource"]}
    assert queues == {queue_id(p) for p in PRIORITY_ORDER} | {dead_letter_queue_id(p) for p in PRIORITY_ORDER}
    # The platform's signing secret (and a rotation's siblings); jobs' references: the stage's folder.
    assert by_sid["SigningParameters"]["Resource"]["Fn::Sub"].endswith(":parameter/tickwork/prod/jwt-secret*")
    assert by_sid["Parameters"]["Resource"]["Fn::Sub"].endswith(":parameter/tickwork/prod/*")
    assert by_sid["Secrets"]["Resource"]["Fn::Sub"].endswith(":secret:tickwork/prod/*")
    # A store's erasure deletes under the stores folder of this stage only.
    assert by_sid["StoreParametersErase"]["Resource"]["Fn::Sub"].endswith(":parameter/tickwork/prod/stores/*")
    assert by_sid["StoreSecretsErase"]["Resource"]["Fn::Sub"].endswith(":secret:tickwork/prod/stores/*")
    assert by_sid["SendEmail"]["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}}
    # SES, S3: only when the deploy names a sender or a bucket.
    conditional = [s["Fn::If"][0] for s in policy["PolicyDocument"]["Statement"] if "Fn::If" in s]
    assert conditional == ["HasEmailSender", "HasCleanupBucket", "HasCleanupBucket"]


# --- the zip ------------------------------------------------------------------------------


def api_event(path: str, token: str | None = None) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event, as Lambda hands it to `app.app`."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {
        "resource": path,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": path, "httpMethod": "GET", "path": f"/api{path}", "stage": "api"},
        "body": None,
        "isBase64Encoded": False,
    }


ZIP_PROBE = """
import json, sys
task, runtime_dir, event_file = sys.argv[1:4]
sys.path[:0] = [task, runtime_dir]
import app
import plugins.my_plugin, plugins.inventory_sync  # raise here if the zip lacks them
from chalicelib import runtime
from chalicelib.auth import Role, mint_token

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "tickwork-api", 512, "probe"
    def get_remaining_time_in_millis(self): return 30000

events = json.load(open(event_file))
token = mint_token(runtime.current().jwt_secret, role=Role.ADMIN, subject="probe")
events["types"]["headers"]["Authorization"] = events["types"]["multiValueHeaders"]["Authorization"][0] = f"Bearer {token}"
answers = {name: app.app(event, Context()) for name, event in events.items()}
print(json.dumps({
    "files": {m: sys.modules[m].__file__ for m in ("app", "chalicelib", "plugins", "plugins.my_plugin", "pydantic", "jwt")},
    "types": sorted(t.name for t in runtime.registry.all()),
    "routes": sorted(app.app.routes),
    "answers": {name: {"status": a["statusCode"], "body": json.loads(a["body"])} for name, a in answers.items()},
}))
"""


def test_stripping_drops_bytecode_and_plugin_tests_and_keeps_the_plugins(tmp_path: Path) -> None:
    zip_path = tmp_path / "deployment.zip"
    kept = ["app.py", "chalicelib/jobs/base.py", "plugins/my_plugin/__init__.py", "plugins/tests_helper/__init__.py"]
    dropped = ["chalicelib/__pycache__/app.cpython-311.pyc", "plugins/my_plugin/tests/test_import_job.py"]
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name in kept + dropped:
            archive.writestr(name, "")
    assert strip_bytecode(zip_path) == len(dropped)
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == sorted(kept)


def test_the_zip_serves_the_api_with_its_plugins_in_a_clean_interpreter(packaged: Packaged, tmp_path: Path) -> None:
    task = tmp_path / "task"  # Lambda's /var/task
    with zipfile.ZipFile(packaged.zip) as archive:
        names = archive.namelist()
        archive.extractall(task)
    assert "plugins/my_plugin/__init__.py" in names and "plugins/inventory_sync/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] in ("tests", "bench", "deploy", "moto", "boto3", "botocore")]
    assert not [n for n in names if n.startswith(DEVELOPMENT_ONLY_PATHS)]
    runtime_dir = tmp_path / "runtime"  # what the Lambda Python runtime adds: boto3 and its tree
    runtime_dir.mkdir()
    site = Path(boto3.__file__).parent.parent
    for name in LAMBDA_RUNTIME_PACKAGES:
        (runtime_dir / name).symlink_to(site / name)
    event_file = tmp_path / "events.json"
    event_file.write_text(json.dumps({"health": api_event("/api/health"), "types": api_event("/api/job-types", "x")}))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TICKWORK_JWT_SECRET": SECRET,
    }
    # -I: no user site, no PYTHON* variables; -S: not even the venv's site-packages.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", ZIP_PROBE, str(task), str(runtime_dir), str(event_file)],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    for module, path in probe["files"].items():
        assert path.startswith(str(task)), f"{module} came from {path}, not the zip"
    assert {"plugin:my-plugin:import", "plugin:inventory-sync:full", "webhook", "api_call"} <= set(probe["types"])
    assert "/api/my-plugin/sync" in probe["routes"] and "/api/inventory-sync/run" in probe["routes"]
    # No AWS to read the tick's heartbeat from: the API answers, and cannot vouch for the tick.
    assert probe["answers"]["health"] == {
        "status": 200,
        "body": {"success": True, "status": "degraded", "tick": {"last_at": None, "lag_s": None}},
    }
    served = probe["answers"]["types"]
    assert served["status"] == 200, served
    assert {"plugin:my-plugin:import", "plugin:inventory-sync:full"} <= {t["type"] for t in served["body"]["job_types"]}
