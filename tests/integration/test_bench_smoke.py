"""The cheap benchmarks in --quick mode, so `make bench` cannot rot unnoticed.

Each runs the bench's own measure() against moto in-process and checks what it found: request
counts are exact properties of the code (no timing), so they are held to their targets here
(docs/benchmarks.md).
"""

from __future__ import annotations

import argparse

from bench import cron_speed, parallel_import, requests_per_job, throughput, tick_scaling, write_units
from bench.common import Row, Target, table
from chalicelib.crons.store import DUE_SHARD_KEYS
from chalicelib.jobs.shards import STATUS_SHARDS


def quick(**extra: object) -> argparse.Namespace:
    return argparse.Namespace(quick=True, json=None, **extra)


def by_figure(rows: list[Row], start: str) -> Row:
    matches = [row for row in rows if row.figure.startswith(start)]
    assert len(matches) == 1, [row.figure for row in rows]
    return matches[0]


def test_a_job_life_costs_at_most_five_requests_and_progress_one() -> None:
    rows = requests_per_job.measure(quick(jobs=10))
    life = by_figure(rows, "2 AWS requests per job life, no progress, excl.")
    assert life.ours <= 5 and life.passed is True
    assert life.extra["calls"]["dynamodb.PutItem"] == life.extra["jobs"]  # one put per job, no reads
    assert "dynamodb.GetItem" not in life.extra["calls"]
    progress = by_figure(rows, "2 AWS requests per progress update")
    assert progress.ours == 1 and progress.passed is True
    firing = by_figure(rows, "2 AWS requests per cron firing")
    assert 0 < firing.ours <= 3


def test_a_tick_reads_only_due_cron_jobs_however_many_are_stored() -> None:
    rows = tick_scaling.measure(quick(sizes="", ticks=0))
    requests = by_figure(rows, "3 tick requests")
    # A query per shard of the due index; a put, a send and an advance per firing (one firing at
    # a time); the sweeps query every shard of the status index. Nothing per stored job.
    least = len(DUE_SHARD_KEYS) + 3 * tick_scaling.DUE + 4 + 2 * STATUS_SHARDS
    assert requests.ours == requests.baseline >= least
    assert requests.passed is True


def test_throughput_runs_every_job_to_completion_on_both_sides() -> None:
    (rate, inside, outside) = throughput.measure(quick(jobs=0, rounds=0))
    assert rate.ours > 0 and rate.baseline is not None and rate.baseline > 0
    assert rate.target is not None and rate.passed is not None
    assert inside.ours > 0 and outside.ours > 0


def test_cron_evaluation_is_measured_against_both_libraries() -> None:
    rows = cron_speed.measure(quick(seconds=0))
    assert [row.baseline_label for row in rows] == ["cronsim", "croniter"]
    assert all(row.ours > 0 and row.ratio is not None and row.ratio > 0 for row in rows)


def test_a_job_life_costs_a_few_write_units_whatever_its_payload_size() -> None:
    rows = write_units.measure(quick(jobs=0))
    small = by_figure(rows, "9 write units per job life (small job)")
    # Put, claim and finish of an item under 1 KB, and their index entries: a few units each.
    assert 3 <= small.ours <= 40
    assert small.extra["per_job"]["table"] >= 3 and small.extra["per_job"]["indexes"] > 0
    big = by_figure(rows, "9 write units per job life (200 KB payload")
    # The payload lives in S3: the item, and so each of its writes, stays as small as the small job's.
    assert big.ours <= 1.5 * small.ours and big.baseline == small.ours and big.passed is True
    progress = by_figure(rows, "9 write units per progress write")
    assert progress.ours <= 10  # the item rewritten is the small one, not the 200 KB payload


def test_the_table_shows_every_row_with_its_verdict() -> None:
    rows = [
        Row("a", "req", 4, 4, "base", Target("ours", "<=", 5)),
        Row("b", "ms", 3, 1, "base", Target("ratio", "<=", 1.3), note="why"),
        Row("c", "/s", 2, None),
    ]
    text = table([row.to_json() for row in rows])
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].strip() == "figure"
    assert "PASS" in lines[2] and "FAIL" in lines[3] and "info" in lines[4]
    assert lines[-1] == "[1] why"


def test_the_parallel_import_finishes_every_item_both_ways() -> None:
    """Real threads and time: small sizes, and no claim on the ratio (the figure is the bench's)."""
    [row] = parallel_import.measure(quick(items=0, chunk=0, item_ms=0.5))
    assert row.ours > 0 and row.baseline is not None and row.baseline > 0
    assert row.extra["parallel"]["result"]["successful"] == 1_000 == row.extra["serial"]["result"]["successful"]
    assert row.extra["chunks"] == 10
