"""SSM parameters, Secrets Manager secrets and S3 objects, dumped and restored through their APIs.

Runs inside the moto process, against its own server, in the stack's region. These are few and
small next to the tables and queues, and their APIs say all there is to keep, so no moto
internals are needed (SSM history, secret versions and object versions are not kept: the latest
value of each is).
"""

from __future__ import annotations

import base64
import functools
from typing import Any

AWS_OWNED_PREFIX = "/aws/"  # moto's public parameters (AMIs, regions): not the stack's


@functools.cache
def _clients(endpoint: str, region: str) -> tuple[Any, Any, Any]:
    """Made once: a snapshot every few seconds would otherwise spend most of its time making them."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=region)
    return (
        session.client("ssm", endpoint_url=endpoint),
        session.client("secretsmanager", endpoint_url=endpoint),
        session.client("s3", endpoint_url=endpoint),
    )


def dump_api_state(endpoint: str, region: str) -> dict[str, Any]:
    ssm, secretsmanager, s3 = _clients(endpoint, region)
    return {
        "region": region,
        "parameters": _dump_parameters(ssm),
        "secrets": _dump_secrets(secretsmanager),
        "buckets": _dump_buckets(s3),
    }


def restore_api_state(endpoint: str, saved: dict[str, Any]) -> None:
    ssm, secretsmanager, s3 = _clients(endpoint, saved["region"])
    for parameter in saved["parameters"]:
        ssm.put_parameter(Overwrite=True, **parameter)
    for secret in saved["secrets"]:
        value = {"SecretString": secret["string"]} if "string" in secret else {"SecretBinary": _bytes(secret["binary"])}
        extra = {"Description": secret["description"]} if secret.get("description") else {}
        secretsmanager.create_secret(Name=secret["name"], Tags=secret["tags"], **value, **extra)
    for bucket in saved["buckets"]:
        where = {"CreateBucketConfiguration": {"LocationConstraint": bucket["location"]}} if bucket["location"] else {}
        s3.create_bucket(Bucket=bucket["name"], **where)
        for obj in bucket["objects"]:
            s3.put_object(
                Bucket=bucket["name"],
                Key=obj["key"],
                Body=_bytes(obj["body"]),
                ContentType=obj["content_type"],
                Metadata=obj["metadata"],
            )


def _dump_parameters(ssm: Any) -> list[dict[str, Any]]:
    described = [
        p
        for page in ssm.get_paginator("describe_parameters").paginate()
        for p in page["Parameters"]
        if not p["Name"].startswith(AWS_OWNED_PREFIX)
    ]
    parameters = []
    for start in range(0, len(described), 10):  # GetParameters takes ten names at most
        batch = described[start : start + 10]
        values = ssm.get_parameters(Names=[p["Name"] for p in batch], WithDecryption=True)["Parameters"]
        by_name = {v["Name"]: v["Value"] for v in values}
        for p in batch:
            if p["Name"] not in by_name:
                continue  # deleted between the two calls
            entry = {"Name": p["Name"], "Value": by_name[p["Name"]], "Type": p["Type"]}
            if p.get("Description"):
                entry["Description"] = p["Description"]
            parameters.append(entry)
    return parameters


def _dump_secrets(secretsmanager: Any) -> list[dict[str, Any]]:
    secrets = []
    for page in secretsmanager.get_paginator("list_secrets").paginate():
        for listed in page["SecretList"]:
            if listed.get("DeletedDate"):
                continue
            try:
                value = secretsmanager.get_secret_value(SecretId=listed["ARN"])
            except secretsmanager.exceptions.ResourceNotFoundException:
                continue  # deleted meanwhile, or a secret with no value yet
            entry: dict[str, Any] = {
                "name": listed["Name"],
                "description": listed.get("Description"),
                "tags": listed.get("Tags", []),
            }
            if "SecretString" in value:
                entry["string"] = value["SecretString"]
            else:
                entry["binary"] = _text(value["SecretBinary"])
            secrets.append(entry)
    return secrets


def _dump_buckets(s3: Any) -> list[dict[str, Any]]:
    buckets = []
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        objects = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for listed in page.get("Contents", []):
                try:
                    got = s3.get_object(Bucket=name, Key=listed["Key"])
                except s3.exceptions.NoSuchKey:
                    continue  # deleted between the listing and the read
                objects.append(
                    {
                        "key": listed["Key"],
                        "body": _text(got["Body"].read()),
                        "content_type": got.get("ContentType", "binary/octet-stream"),
                        "metadata": got.get("Metadata", {}),
                    }
                )
        location = s3.get_bucket_location(Bucket=name).get("LocationConstraint")
        buckets.append({"name": name, "location": location, "objects": objects})
    return buckets


def _text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bytes(text: str) -> bytes:
    return base64.b64decode(text)
