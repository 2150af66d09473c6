"""Which ids a job can have: the ids the services generate and nothing else."""

from __future__ import annotations

import uuid

from chalicelib.jobs.model import is_generated_id
from tests.kit import NOT_JOB_IDS


def test_the_generated_id_rule_takes_the_services_ids_and_nothing_else() -> None:
    assert is_generated_id(str(uuid.uuid4()))
    assert is_generated_id(str(uuid.uuid5(uuid.uuid4(), "key")))
    for other in [*NOT_JOB_IDS, "", str(uuid.uuid4()) + "\n", "{" + str(uuid.uuid4()) + "}", uuid.uuid4().hex]:
        assert not is_generated_id(other), other
