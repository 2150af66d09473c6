"""The import job, run inline with the test kit: no AWS, no stack."""

from __future__ import annotations

import pytest

from chalicelib.errors import BadRequestError
from plugins.my_plugin.jobs.import_job import ImportPayload, MyImportJob
from tickwork_testing import RunStatus, run_handler


def test_an_import_counts_the_items_it_could_not_import() -> None:
    items = [{"name": "mug"}, {"name": ""}, {"name": "plate", "fail": "out of stock"}, {"name": "bowl"}]
    run = run_handler(MyImportJob, payload={"items": items}, payload_model=ImportPayload)
    assert run.status == RunStatus.COMPLETED
    assert run.result == {"total": 4, "successful": 2, "failed": 2}
    assert run.log_messages == [
        "Starting import from external-api",
        "Failed to import : item has no name",
        "Failed to import plate: out of stock",
    ]
    assert (run.progress, run.progress_message) == (100, "Import completed")


def test_filters_keep_only_matching_items() -> None:
    payload = {"count": 4, "filters": {"category": "garden"}}
    run = run_handler(MyImportJob, payload=payload, payload_model=ImportPayload)
    assert run.result == {"total": 4, "successful": 4, "failed": 0}
    assert run.progress_calls[1].message == "Processing 4 items..."


def test_progress_climbs_from_50_to_95_while_importing() -> None:
    run = run_handler(MyImportJob, payload={"count": 10}, payload_model=ImportPayload)
    importing = [call.percent for call in run.progress_calls if call.message and call.message.startswith("Importing")]
    assert importing == sorted(importing) and importing[0] == 50 and importing[-1] <= 95


def test_a_long_import_hands_over_and_resumes_where_it_stopped() -> None:
    first = run_handler(MyImportJob, payload={"count": 6}, continue_at_checkpoint=4)
    assert first.status == RunStatus.CONTINUED
    assert first.checkpoint["next"] == 4
    rest = run_handler(MyImportJob, payload={"count": 6}, checkpoint=first.checkpoint)
    assert rest.status == RunStatus.COMPLETED
    assert rest.result == {"total": 6, "successful": 6, "failed": 0}
    assert len(first.checkpoints) + len(rest.checkpoints) == 6  # no item imported twice


def test_a_cancelled_import_stops_at_once() -> None:
    run = run_handler(MyImportJob, payload={"count": 100}, cancel_at_progress=5)
    assert run.status == RunStatus.CANCELLED
    assert len(run.checkpoints) == 2  # items 1 and 2 saved; the cancel came at item 3's report


def test_a_bad_payload_is_refused_before_any_handler_runs() -> None:
    with pytest.raises(BadRequestError):
        run_handler(MyImportJob, payload={"count": "many"}, payload_model=ImportPayload)
