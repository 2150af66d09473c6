"""Calendar edges and listing tokens without AWS: a schedule near year 9999, DynamoDB refusing a start key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws.dynamo import read_pages
from chalicelib.crons.expression import parse_schedule
from chalicelib.errors import BadRequestError


def test_a_schedule_with_no_slot_before_the_calendars_end_has_no_next_run() -> None:
    schedule = parse_schedule("0 0 29 2 *", "Pacific/Kiritimati")
    assert schedule.next_times(datetime(9996, 3, 1, tzinfo=UTC), 3) == []
    assert schedule.times_between(datetime(9996, 3, 1, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC), 3) == []


def test_dynamodb_refusing_the_start_key_is_a_400() -> None:
    def refuse(**request: Any) -> dict[str, Any]:
        error = {"Error": {"Code": "ValidationException", "Message": "The provided starting key is invalid"}}
        raise ClientError(error, "Query")

    with pytest.raises(BadRequestError) as raised:
        read_pages(refuse, {}, limit=5, start_key={"id": "x"}, max_pages=2)
    assert raised.value.code == "invalid_next_token"
    # Without a token the same error is DynamoDB's, not the caller's: it stays an error.
    with pytest.raises(ClientError):
        read_pages(refuse, {}, limit=5, start_key=None, max_pages=2)
