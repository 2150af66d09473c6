"""A job's large values (payload, result, checkpoint): in its item when small, in S3 when not.

Every state change rewrites the job's item, and DynamoDB bills a write by the item's size, on
the table and again on each index that projects it. A value kept inline costs its size on
every claim, heartbeat and finish; one kept in S3 (a claim check: the item holds its key) is
written once and costs the item a short key. Small values stay inline: an S3 PUT costs about
what eight write units do, and a read of a job with everything inline needs no second request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.aws.objects import S3Objects
from chalicelib.jobs.model import Job, ref_attribute

# Values at most this long (compact JSON, bytes) stay in the item.
DEFAULT_INLINE_BYTES = 1024
# The largest result a job keeps; a bigger one fails the job, naming this limit.
MAX_RESULT_BYTES = 5 * 1024 * 1024
# Objects read at once when a page of jobs needs several.
LOAD_THREADS = 8


class ValueTooLargeError(ValueError):
    """Raised when a value passes its limit; the message names the field, the size and the limit."""

    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(f"{field} is {size} bytes; the limit is {limit}")
        self.field = field
        self.size = size
        self.limit = limit


def encode_value(value: Any) -> bytes:
    """A value as the item or the object stores it: compact JSON (anything else as its string)."""
    return json.dumps(value, separators=(",", ":"), default=str).encode()


# Every job's objects are under it (the bucket's lifecycle rule and the functions' grant name it).
KEY_PREFIX = "jobs/"


def job_prefix(job_id: str) -> str:
    """Where a job's objects live: deleting the job deletes everything under it."""
    return f"{KEY_PREFIX}{job_id}/"


class JobValues:
    """Places a job's values and reads them back."""

    def __init__(self, objects: S3Objects, *, inline_bytes: int = DEFAULT_INLINE_BYTES) -> None:
        self._objects = objects
        self.inline_bytes = inline_bytes

    def item_changes(self, job_id: str, field: str, value: Any) -> dict[str, Any]:
        """The item attributes that hold ``value`` (None: the attribute goes).

        An object is written before the item that names it, under a key used once: an item
        never points at an object that is not there yet, and a write that loses its race
        (a stale worker's) leaves an unreferenced object behind, never a changed one.
        """
        if value is None:
            return {field: None, ref_attribute(field): None}
        encoded = encode_value(value)
        if len(encoded) <= self.inline_bytes:
            return {field: encoded.decode(), ref_attribute(field): None}
        key = f"{job_prefix(job_id)}{field}/{uuid.uuid4().hex}.json"
        self._objects.put(key, encoded)
        return {field: None, ref_attribute(field): key}

    def load(self, jobs: Iterable[Job]) -> list[Job]:
        """``jobs`` with every value kept in S3 read back; jobs with none are returned as they are."""
        jobs = list(jobs)
        wanted = [(index, field) for index, job in enumerate(jobs) for field in job.unloaded_values()]
        if not wanted:
            return jobs

        def read(entry: tuple[int, str]) -> Any:
            index, field = entry
            return json.loads(self._objects.get(getattr(jobs[index], ref_attribute(field))))

        if len(wanted) == 1:
            values = [read(wanted[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(LOAD_THREADS, len(wanted))) as pool:
                values = list(pool.map(read, wanted))
        found: dict[int, dict[str, Any]] = {}
        for (index, field), value in zip(wanted, values, strict=True):
            found.setdefault(index, {})[field] = value
        return [job.with_values(**found[index]) if index in found else job for index, job in enumerate(jobs)]

    def delete(self, job_id: str) -> int:
        """Delete the job's objects (it is being deleted); how many there were."""
        return self._objects.delete_prefix(job_prefix(job_id))
