"""Schemathesis against the running embedded stack: every operation, as an admin and as a store owner.

The stack is the real one (``python -m devstack``: Chalice's local server, moto's DynamoDB
and SQS over HTTP, the worker pollers); the schema is the one it serves at ``/api/openapi.json``
(the same document ``build_spec`` makes in this process, which names the test items at
collection time). For each operation and role, Schemathesis generates schema-valid and invalid
requests (positive and negative modes); half of the operations' path ids name a real job or cron
job of that role, so bodies reach the update code instead of stopping at a 404. Each answer is
checked: no 5xx, a documented status, a body matching the schema documented for that status
(every 4xx documents the one error shape), auth not ignored, invalid data rejected, plus our own
check that any 4xx, documented or not (Chalice's 405 for a method a path lacks), has the error
shape of every error answer (success, error, code, details).

Bounded: FUZZ_EXAMPLES (default 6) examples per operation, role and mode, no shrinking; the
terminal summary reports how many requests were sent.

Implementation note: Schemathesis's own pytest integration (``schema.parametrize``) fails under
pytest 9.2 (``'Function' object has no attribute '_nodeid'``), so the Hypothesis tests are built
here from ``APIOperation.as_strategy`` and run inside ordinary parametrized tests.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

import app as app_module
from chalicelib.api.openapi import build_spec
from tests.e2e.conftest import RunningStack, cli_token

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
OWNER_STORE = "store-fuzz"
ERROR_KEYS = {"success", "error", "code", "details"}
SPEC = build_spec(app_module.app)
# Unknown query parameters are ignored by design (the list routes also take camelCase spellings,
# and a browser or proxy may add a cache buster), so the fuzzer does not send them as "invalid".
SCHEMA = schemathesis.openapi.from_dict(
    SPEC, config=schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})
)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
ROLES = ("admin", "store_owner")
# Requests sent, by role, and answers by status class: shown in the terminal summary.
SENT: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,  # the same requests on every run: a failure in CI reproduces here
    phases=[Phase.explicit, Phase.generate],  # no shrinking: keep the run bounded
)


class ErrorShapeFailure(Failure):
    """A 4xx whose body is not {success: false, error, code, details}."""

    def __init__(self, operation: str, status: int, body: str) -> None:
        super().__init__(
            operation=operation,
            title="4xx without the error shape",
            message=f"{status} answered {body[:300]!r}",
            code="error_shape",
        )

    @property
    def _unique_key(self) -> str:
        return self.message


def error_shape(ctx: CheckContext, response: schemathesis.Response, case: Case) -> bool | None:
    """Every 4xx, documented or not, carries the one error shape."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = None
    if not (
        isinstance(body, dict)
        and set(body) == ERROR_KEYS
        and body["success"] is False
        and isinstance(body["error"], str)
        and body["error"].strip() != ""
        and isinstance(body["code"], str)
        and isinstance(body["details"], list)
    ):
        raise ErrorShapeFailure(case.operation.label, response.status_code, response.text)
    return True


# positive_data_acceptance is left out on purpose: the API validates beyond what a schema can
# say (the job type is registered, the cron expression parses and fires, the timezone exists, the
# store is the token's), so a schema-valid body may rightly get a 400, 403 or 404.
CHECKS: list[Callable[..., bool | None]] = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
    error_shape,
]


@pytest.fixture(scope="module")
def tokens(embedded_stack: RunningStack) -> dict[str, str]:
    owner = cli_token(embedded_stack, "--role", "store_owner", "--store", OWNER_STORE)
    return {"admin": embedded_stack.admin_token, "store_owner": owner}


@pytest.fixture(scope="module")
def real_ids(embedded_stack: RunningStack, tokens: dict[str, str]) -> dict[str, dict[str, str]]:
    """A job, a cron job and a batch per role, so fuzzed requests reach past the 404 of a random id."""
    ids: dict[str, dict[str, str]] = {}
    for role, tok in tokens.items():
        headers = embedded_stack.headers(tok)
        job = requests.post(
            embedded_stack.url("/api/background-jobs/schedule"),
            json={"type": "plugin:my-plugin:import", "store_id": OWNER_STORE, "delay": 3600},
            headers=headers,
            timeout=10,
        )
        assert job.status_code == 201, job.text
        cron = requests.post(
            embedded_stack.url("/api/cron-jobs"),
            json={
                "name": f"fuzz {role}",
                "cron_expression": "0 3 * * *",
                "job_type": "plugin:my-plugin:import",
                "store_id": OWNER_STORE,
            },
            headers=headers,
            timeout=10,
        )
        assert cron.status_code == 201, cron.text
        batch = requests.post(
            embedded_stack.url("/api/background-jobs/batches"),
            json={"store_id": OWNER_STORE, "jobs": [{"type": "plugin:my-plugin:import", "delay": 3600}]},
            headers=headers,
            timeout=10,
        )
        assert batch.status_code == 201, batch.text
        ids[role] = {
            "job_id": job.json()["job"]["id"],
            "cron_id": cron.json()["job"]["id"],
            "batch_id": batch.json()["batch"]["id"],
        }
    return ids


def test_the_stack_serves_the_spec_the_fuzzer_uses(embedded_stack: RunningStack) -> None:
    served = requests.get(embedded_stack.url("/api/openapi.json"), timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(SPEC))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_fuzz(
    label: str,
    role: str,
    embedded_stack: RunningStack,
    tokens: dict[str, str],
    real_ids: dict[str, dict[str, str]],
) -> None:
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    known = {name: value for name, value in real_ids[role].items() if "{" + name + "}" in operation.path}
    # The token is fixed in the generated case (not added at call time): a negative case must not
    # believe it dropped the header while we send it. ignored_auth sends its own tokenless requests.
    strategies = [operation.as_strategy(mode, headers=headers) for mode in GenerationMode]
    if known:
        strategies += [operation.as_strategy(mode, headers=headers, path_parameters=known) for mode in GenerationMode]
    failures: list[str] = []
    for strategy in strategies:

        @given(case=strategy)
        @FUZZ_SETTINGS
        def run(case: Case) -> None:
            response = case.call(base_url=embedded_stack.base_url, timeout=30)
            SENT[role] += 1
            STATUSES[f"{response.status_code // 100}xx"] += 1
            case.validate_response(response, checks=CHECKS, transport_kwargs={"base_url": embedded_stack.base_url})

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to negate: the operation has no parameters and no body
        except Exception as error:  # collect every strategy's failure, then fail once
            failures.append(str(error))
    assert not failures, "\n\n".join(failures)


def test_fuzz_sent_requests_for_both_roles(request: pytest.FixtureRequest) -> None:
    """Runs after the fuzz tests (file order): both roles were fuzzed; the count goes to the summary."""
    line = f"fuzz: {sum(SENT.values())} requests {dict(SENT)}, answers {dict(sorted(STATUSES.items()))}"
    request.config.stash.setdefault(FUZZ_REPORT, []).append(line)
    if request.config.pluginmanager.get_plugin("tickwork-fuzz-report") is None:
        request.config.pluginmanager.register(FuzzReport(), "tickwork-fuzz-report")
    assert SENT["admin"] >= len(OPERATIONS) and SENT["store_owner"] >= len(OPERATIONS), SENT
    assert STATUSES["5xx"] == 0


FUZZ_REPORT = pytest.StashKey[list[str]]()


class FuzzReport:
    """Adds the request count to pytest's terminal summary."""

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        for line in config.stash.get(FUZZ_REPORT, []):
            terminalreporter.write_line(line)
