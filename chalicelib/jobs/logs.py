"""A job's log lines, in an item of their own next to the job's (id ``joblogs#<job id>``).

Apart, so that a state change does not rewrite them (nor the job's indexes carry them), and a
log flush costs the lines' size once. The item has no job attributes: no index holds it, and
readers of the table that look for jobs see "not a job", as for the rate-limit counters.

Each attempt writes the lines it holds (the ring of the last ``max_log_lines``, earlier
attempts' included). A write is conditional on who wrote last: an earlier attempt, or this one
with fewer lines. Attempts are ordered by ``epoch``, the job's version their claim wrote:
versions only grow, and an attempt's writes to the job all fail once a later claim has
written, so a worker that lost its lease cannot overwrite a later attempt's lines.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import is_condition_failure, old_item
from chalicelib.clock import from_iso
from chalicelib.errors import StaleWriteError

LOGS_ID_PREFIX = "joblogs#"
# Past a finished job's retention, the time a job may still run after its last log line is
# written: the log item outlives its job a little rather than the other way round.
EXPIRY_MARGIN_S = 8 * 24 * 3600


def logs_item_id(job_id: str) -> str:
    return f"{LOGS_ID_PREFIX}{job_id}"


class JobLogs:
    def __init__(self, table: Any, *, retention_s: int) -> None:
        self._table = table
        self._retention_s = retention_s

    def write(self, job_id: str, lines: list[str], *, epoch: int, lease_token: str, sequence: int, now: str) -> None:
        """Store ``lines``; StaleWriteError if a later attempt, or a later flush of this one, wrote first."""
        item: dict[str, Any] = {
            "id": logs_item_id(job_id),
            "lines": lines,
            "epoch": epoch,
            "lease_token": lease_token,
            "sequence": sequence,
        }
        if self._retention_s > 0:
            item["expires_at"] = int(from_iso(now).timestamp()) + self._retention_s + EXPIRY_MARGIN_S
        condition = (
            Attr("id").not_exists()
            | Attr("epoch").lt(epoch)
            | (Attr("lease_token").eq(lease_token) & Attr("sequence").lt(sequence))
        )
        try:
            self._table.put_item(
                Item=item, ConditionExpression=condition, ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            if (old_item(exc) or {}).get("lease_token") == lease_token:
                return  # a later flush of this attempt landed first: these lines are in it
            raise StaleWriteError(f"Job {job_id}'s log lines were written by a later attempt.") from exc

    def read(self, job_id: str) -> list[str]:
        item = self._table.get_item(Key={"id": logs_item_id(job_id)}, ConsistentRead=True).get("Item")
        return [str(line) for line in (item or {}).get("lines", [])]

    def delete(self, job_id: str) -> None:
        self._table.delete_item(Key={"id": logs_item_id(job_id)})
