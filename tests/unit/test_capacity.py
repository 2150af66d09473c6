"""The capacity model's arithmetic (bench/capacity.py). Pure: no AWS."""

from __future__ import annotations

import dataclasses

import pytest

from bench.capacity import BEFORE, Ceiling, Limits, Measured, Model, Prices, after, first, hot_key_ceiling


def ceiling(model: Model, design: object, start: str, *, jobs: bool = True) -> float:
    found = model.jobs_ceilings(design) if jobs else model.firing_ceilings(design)  # type: ignore[arg-type]
    (match,) = [c for c in found if c.name.startswith(start)]
    return match.value


def test_a_hot_key_caps_at_1000_wcu_over_its_writes_per_job() -> None:
    assert hot_key_ceiling(1_000, 1, 2, 1) == 500
    assert hot_key_ceiling(1_000, 1, 2, 200) == 2.5  # a 200 KB entry: 200 units a write


def test_sharding_a_key_over_n_multiplies_its_ceiling_by_n() -> None:
    assert hot_key_ceiling(1_000, 16, 2, 1) == 16 * hot_key_ceiling(1_000, 1, 2, 1)
    model = Model()
    status = "status index"
    assert ceiling(model, after(16), status) == 16 * ceiling(model, BEFORE, status)
    assert ceiling(model, after(32), status) == 2 * ceiling(model, after(16), status)


def test_the_due_key_caps_firings_per_minute_by_its_shards() -> None:
    model = Model()
    assert ceiling(model, BEFORE, "due index", jobs=False) == 60 * 1_000 / 4
    assert ceiling(model, after(16), "due index", jobs=False) == 16 * 60 * 1_000 / 4


def test_the_first_bottleneck_is_the_lowest_lasting_ceiling() -> None:
    ceilings = [
        Ceiling("a", 300, "quota"),
        Ceiling("b", 100, "transient"),
        Ceiling("c", 200, "setting"),
        Ceiling("d", 250, "partition"),
    ]
    assert first(ceilings).name == "c"
    assert first(ceilings, settings=False).name == "d"
    model = Model()
    assert model.max_jobs_per_s(BEFORE) == min(c.value for c in model.jobs_ceilings(BEFORE) if c.kind != "transient")


def test_the_table_quota_divides_by_the_write_units_per_job() -> None:
    model = Model(measured=dataclasses.replace(Measured(), wru_per_job_small=20))
    assert ceiling(model, BEFORE, "jobs table + indexes") == 40_000 / 20


def test_small_state_items_keep_a_big_payload_out_of_state_writes() -> None:
    model = Model()
    assert model.wru_per_job(BEFORE, large=True) == Measured().wru_per_job_large
    small = dataclasses.replace(after(), whole_item_state_writes=False, payload_in_s3=False)
    assert model.wru_per_job(small, large=True) == Measured().wru_per_job_small + 200
    in_s3 = dataclasses.replace(after(), payload_in_s3=True, whole_item_state_writes=False)
    assert model.wru_per_job(in_s3, large=True) == Measured().wru_per_job_small
    assert model.max_jobs_per_s(BEFORE, large=True) == 2.5


def test_the_cost_per_million_jobs_adds_up_its_lines() -> None:
    model = Model()
    cost = model.cost_per_million_jobs(BEFORE)
    assert cost["total"] == pytest.approx(sum(v for k, v in cost.items() if k != "total"))
    assert cost["DynamoDB writes"] == pytest.approx(16.1 * 0.625)
    assert cost["API Gateway"] == pytest.approx(3.50)
    assert cost["SQS requests"] == pytest.approx(1.30 * 0.40)


def test_a_payload_in_s3_costs_one_put_and_one_get_per_job() -> None:
    in_s3 = dataclasses.replace(after(), payload_in_s3=True, whole_item_state_writes=False)
    cost = Model().cost_per_million_jobs(in_s3, large=True)
    assert cost["S3 PUT + GET"] == pytest.approx(5.0 + 0.4)


def test_the_tick_fans_out_to_fire_more_slots_each_minute() -> None:
    model = Model()
    before = ceiling(model, BEFORE, "tick: firing", jobs=False)
    assert before == pytest.approx(60 / 0.018)
    # 45 s of a 32-thread pool, at 2.1 calls a slot (messages ten to a batch)
    assert ceiling(model, after(16), "tick: firing", jobs=False) == pytest.approx(45 / 0.018 * 32 * 3 / 2.1)


def test_every_aws_figure_and_price_names_its_source() -> None:
    for figures in (Limits, Prices):
        for spec in dataclasses.fields(figures):
            assert spec.metadata["source"].startswith("https://"), spec.name
