"""database_query jobs against a real PostgreSQL server (a throwaway cluster, see conftest.postgres_url)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.jobs.lifecycle import JobStatus
from tests.conftest import Stack, assert_error, token
from tests.kit import GUIDE_QUERY


def query_job(stack: Stack, tok: str, **config: Any) -> dict[str, Any]:
    return stack.schedule(tok, type="database_query", payload=config, maxRetries=config.pop("retries", 0))


def seed_temp_data(database: Any) -> None:
    database.run("CREATE TABLE temp_data (id serial PRIMARY KEY, created_at timestamptz NOT NULL)")
    database.run(
        "INSERT INTO temp_data (created_at) VALUES (NOW() - INTERVAL '40 days'), (NOW() - INTERVAL '31 days'), (NOW())"
    )


def test_the_guides_cron_job_runs_its_query_verbatim(stack: Stack, admin: str, database: Any) -> None:
    seed_temp_data(database)
    body = {
        "name": "Purge temp data",
        "cron_expression": "0 3 * * *",
        "job_type": "database_query",
        "configuration": {"query": GUIDE_QUERY, "timeout": 30000},
        "store_id": "store-a",
    }
    created = stack.post("/api/cron-jobs", body, admin)
    assert created.status_code == 201, created.json_body
    run = stack.post(f"/api/cron-jobs/{created.json_body['job']['id']}/run", {}, admin)
    assert run.status_code == 202, run.json_body
    stack.poller.drain()
    done = stack.job(run.json_body["execution"]["id"])
    assert done.status == JobStatus.COMPLETED, done.error
    assert done.result["rows_affected"] == 2 and done.result["rows"] == []
    assert database.run("SELECT count(*) FROM temp_data") == [[1]]


def test_parameters_are_bound_and_rows_come_back_bounded(stack: Stack, admin: str, database: Any) -> None:
    database.run("CREATE TABLE prices (sku text, amount numeric(10, 2), seen timestamptz, ref uuid)")
    database.run(
        "INSERT INTO prices SELECT 'sku-' || n, n + 0.10, '2026-11-28T12:00:00Z', gen_random_uuid()"
        " FROM generate_series(1, 5) AS n"
    )
    named = query_job(
        stack,
        admin,
        query="SELECT sku, amount, seen, ref FROM prices WHERE amount > :floor ORDER BY sku",
        parameters={"floor": 1},
        max_rows=2,
    )
    positional = query_job(stack, admin, query="UPDATE prices SET sku = $1 WHERE amount < $2", parameters=["x", 3])
    stack.poller.drain()
    rows = stack.job(named["id"]).result
    assert rows["columns"] == ["sku", "amount", "seen", "ref"]
    assert rows["rows_affected"] == 5 and rows["rows_truncated"] is True
    assert [row[:3] for row in rows["rows"]] == [
        ["sku-1", "1.10", "2026-11-28T12:00:00+00:00"],
        ["sku-2", "2.10", "2026-11-28T12:00:00+00:00"],
    ]
    assert len(rows["rows"][0][3]) == 36  # a UUID, as text
    assert stack.job(positional["id"]).result["rows_affected"] == 2
    assert database.run("SELECT count(*) FROM prices WHERE sku = 'x'") == [[2]]


def test_parameter_values_may_be_templates_rendered_when_the_job_runs(stack: Stack, admin: str, database: Any) -> None:
    job = query_job(
        stack, admin, query="SELECT :job::text, :day::date", parameters={"job": "{{job_id}}", "day": "{{current_date}}"}
    )
    stack.poller.drain()
    [[job_id, day]] = stack.job(job["id"]).result["rows"]
    assert job_id == job["id"] and len(day) == 10


def test_a_failing_statement_rolls_back_and_fails_without_retrying(stack: Stack, admin: str, database: Any) -> None:
    database.run("CREATE TABLE t (n int)")
    job = query_job(stack, admin, query="INSERT INTO t SELECT 10 / (3 - n) FROM generate_series(1, 5) AS n", retries=3)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED and failed.attempts == 1
    assert "SQLSTATE 22012" in (failed.error or "")  # division by zero: another attempt would fail the same way
    assert database.run("SELECT count(*) FROM t") == [[0]]


def test_a_statement_past_its_timeout_is_cancelled_by_the_server(stack: Stack, admin: str, database: Any) -> None:
    job = query_job(stack, admin, query="SELECT pg_sleep(5)", timeout=1000)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    assert "SQLSTATE 57014" in (failed.error or "") and "timeout" in (failed.error or "")


def test_without_database_url_the_job_fails_once_naming_the_setting(
    stack: Stack, admin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.configure(monkeypatch, database_url=None)
    job = query_job(stack, admin, query="SELECT 1", retries=3)
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED and failed.attempts == 1
    assert "DATABASE_URL is not set" in (failed.error or "")


def test_the_connection_string_never_shows_in_an_error(
    stack: Stack, admin: str, database: Any, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = postgres_url.split(":")[2].split("@")[0]
    stack.configure(monkeypatch, database_url=postgres_url.replace(password, password + "-wrong"))
    job = query_job(stack, admin, query="SELECT 1")
    stack.poller.drain()
    failed = stack.job(job["id"])
    assert failed.status == JobStatus.FAILED
    shown = stack.get(f"/api/background-jobs/{failed.id}", admin).body.decode()
    assert password not in shown and password not in (failed.error or "")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"query": "DELETE FROM a; DROP TABLE b"}, "exactly one SQL statement, found 2"),
        ({"query": "  ;  "}, "exactly one SQL statement, found 0"),
        ({"query": "SELECT * FROM t WHERE d = '{{current_date}}'"}, "templates are not allowed in the SQL text"),
        ({"query": "SELECT :a, :b", "parameters": {"a": 1}}, ":b"),
        ({"query": "SELECT $1, $2", "parameters": [1]}, "$2"),
        ({"query": "SELECT 1", "timeout": 30}, "greater than or equal to 1000"),
    ],
)
def test_bad_configurations_are_a_400_naming_the_field(
    stack: Stack, admin: str, config: dict[str, Any], fragment: str
) -> None:
    response = stack.post(
        "/api/background-jobs/schedule", {"type": "database_query", "storeId": "store-a", "payload": config}, admin
    )
    body = assert_error(response, 400, "validation_error")
    assert body["details"][0]["field"].startswith("payload")
    assert fragment in str(body["details"]), body


def test_only_an_admin_may_create_database_query_jobs_or_see_the_type(stack: Stack, owner_a: str) -> None:
    job = {"type": "database_query", "storeId": "store-a", "payload": {"query": "SELECT 1"}}
    assert_error(stack.post("/api/background-jobs/schedule", job, owner_a), 403, "admin_only_type")
    cron = {
        "name": "n",
        "cron_expression": "0 3 * * *",
        "job_type": "database_query",
        "configuration": {"query": "SELECT 1"},
        "store_id": "store-a",
    }
    assert_error(stack.post("/api/cron-jobs", cron, owner_a), 403, "admin_only_type")
    listed = {t["type"] for t in stack.get("/api/job-types", owner_a).json_body["job_types"]}
    assert "database_query" not in listed
    schema = {t["type"]: t for t in stack.get("/api/job-types", token("admin")).json_body["job_types"]}[
        "database_query"
    ]
    assert set(schema["configuration_schema"]["properties"]) >= {"query", "parameters", "timeout"}
