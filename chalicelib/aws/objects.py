"""S3 objects the jobs table points at (claim checks): put, get, and delete by prefix."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# DeleteObjects takes at most this many keys a request.
DELETE_BATCH = 1000


class ObjectMissingError(Exception):
    """Raised when a key the jobs table names has no object (deleted by hand, or by the lifecycle rule)."""


class S3Objects:
    """One bucket. Keys are written once and never overwritten: a write that loses its race
    (a stale worker's) leaves an unreferenced object, never a changed one."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, key: str, body: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", ServerSideEncryption="AES256"
        )

    def get(self, key: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectMissingError(key) from exc
            raise
        return answer["Body"].read()

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; how many were deleted."""
        deleted = 0
        for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
            for start in range(0, len(keys), DELETE_BATCH):
                batch = keys[start : start + DELETE_BATCH]
                self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch)
        return deleted


def ensure_bucket(client: Any, bucket: str, region: str) -> None:
    """Create the bucket if missing (the embedded stack and tests; the template makes it on AWS)."""
    try:
        client.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    request: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        client.create_bucket(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
