"""``schedule_description`` in the caller's language: ``?locale=`` or ``Accept-Language``, on moto."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Stack, auth

DAILY = {"name": "nightly", "cron_expression": "0 2 * * *", "job_type": "plugin:my-plugin:import"}


def create(stack: Stack, admin: str, **fields: Any) -> dict[str, Any]:
    response = stack.post("/api/cron-jobs", {**DAILY, **fields}, admin)
    assert response.status_code == 201, response.json_body
    return response.json_body["job"]


def read(stack: Stack, admin: str, path: str, **headers: str) -> Any:
    return stack.client.http.get(path, headers={**auth(admin), **headers})


@pytest.mark.parametrize(
    ("header", "description"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "Um 02:00"),
        ("fr", "À 02:00"),
        ("xx, es;q=0.5", "A las 02:00"),
        ("nl-BE", "Om 02:00"),
        ("en-GB", "At 02:00 every day"),
        ("ja", "At 02:00 every day"),
        (";;q=abc,,,", "At 02:00 every day"),
        ("de;q=0, fr;q=0.1", "À 02:00"),
    ],
)
def test_accept_language_picks_the_description_language(
    stack: Stack, admin: str, header: str, description: str
) -> None:
    cron = create(stack, admin)
    response = read(stack, admin, f"/api/cron-jobs/{cron['id']}", **{"Accept-Language": header})
    assert response.status_code == 200
    assert response.json_body["job"]["schedule_description"] == description


def test_the_locale_parameter_wins_over_the_header_in_lists_too(stack: Stack, admin: str) -> None:
    create(stack, admin, timezone="Europe/Berlin")
    response = read(stack, admin, "/api/cron-jobs?locale=nl&store_id=platform", **{"Accept-Language": "de"})
    assert response.status_code == 200, response.json_body
    assert [job["schedule_description"] for job in response.json_body["jobs"]] == ["Om 02:00 (Europe/Berlin)"]


def test_a_form_a_language_cannot_say_right_stays_english(stack: Stack, admin: str) -> None:
    cron = create(stack, admin, cron_expression="30 8 * * mon-fri")
    response = read(stack, admin, f"/api/cron-jobs/{cron['id']}?locale=de")
    assert response.json_body["job"]["schedule_description"] == "At 08:30 on Monday through Friday"


def test_an_unknown_locale_reads_english_and_the_stored_text_stays_english(stack: Stack, admin: str) -> None:
    cron = create(stack, admin)
    assert (
        read(stack, admin, f"/api/cron-jobs/{cron['id']}?locale=klingon").json_body["job"]["schedule_description"]
        == "At 02:00 every day"
    )
    assert stack.runtime.crons.store.get(cron["id"]).schedule_description == "At 02:00 every day"


def test_the_preview_describes_in_the_callers_language(stack: Stack, admin: str) -> None:
    response = stack.client.http.post(
        "/api/cron-jobs/preview",
        headers={**auth(admin), "Accept-Language": "fr-CA"},
        body='{"cron_expression": "*/5 * * * *"}',
    )
    assert response.status_code == 200, response.json_body
    assert response.json_body["description"] == "Toutes les 5 minutes"
