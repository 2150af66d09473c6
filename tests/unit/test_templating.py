"""Rendering placeholders: the variables, the resolver, refused placeholders."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.errors import BadRequestError
from chalicelib.templating import check_placeholders, job_variables, render

NOW = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)


def variables(timezone: str = "UTC") -> dict[str, str]:
    return job_variables(
        job_id="j1",
        store_id="s1",
        cron_job_id="c1",
        scheduled_at="2026-11-28T23:30:00.000000Z",
        timezone=timezone,
        now=NOW,
    )


def test_the_guides_current_time_is_rendered_not_sent_literally() -> None:
    body = {"event": "daily_sync", "timestamp": "{{current_time}}"}
    assert render(body, variables(), lambda kind, name: "") == {
        "event": "daily_sync",
        "timestamp": "2026-11-28T23:30:00Z",
    }


def test_current_date_is_the_cron_jobs_own_calendar_day() -> None:
    assert render("{{current_date}}", variables("UTC"), lambda k, n: "") == "2026-11-28"
    assert render("{{current_date}}", variables("Asia/Tokyo"), lambda k, n: "") == "2026-11-29"


def test_env_and_secret_placeholders_go_through_the_resolver() -> None:
    seen = []

    def resolve(kind: str, name: str) -> str:
        seen.append((kind, name))
        return f"<{kind}:{name}>"

    assert render({"h": ["Bearer {{secret:api/token}}", "{{ env:REGION }}"]}, variables(), resolve) == {
        "h": ["Bearer <secret:api/token>", "<env:REGION>"]
    }
    assert seen == [("secret", "api/token"), ("env", "REGION")]


@pytest.mark.parametrize("text", ["{{current_tmie}}", "{{secret:}}", "{{vault:x}}", "{{ job_id:x }}"])
def test_an_unknown_or_malformed_placeholder_is_refused_with_its_path(text: str) -> None:
    with pytest.raises(BadRequestError) as error:
        check_placeholders({"body": {"items": ["ok", text]}}, "configuration")
    assert error.value.code == "unknown_template_variable"
    assert error.value.details[0]["field"] == "configuration.body.items[1]"
