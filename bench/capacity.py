"""A capacity model: max jobs/s and cron firings/min of two layouts, their bottlenecks, cost per million jobs.

    .venv/bin/python -m bench.capacity [--markdown] [--shards 16]

Pure arithmetic, no AWS call. Three kinds of input, each a dataclass with a source per figure:
AWS's published limits (``Limits``) and prices (``Prices``, us-east-1), what the benches measured
(``Measured``: docs/benchmarks.md and bench/write_units.py), and the layout (``Design``): today's
(``before``) and the sharded one being built (``after``). For each design every candidate
bottleneck gets a ceiling in jobs/s or firings/min; the smallest is the first bottleneck. See
docs/capacity.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass, field

from bench.common import Row, Target, fmt, run_cli
from deploy.concurrency import MAXIMUM_CONCURRENCY

TARGET_JOBS_PER_S = 10_000
TARGET_FIRINGS_PER_MIN = 100_000

DDB = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/"
SQS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"


def source(url: str, default: float) -> float:
    return field(default=default, metadata={"source": url})  # type: ignore[return-value]


@dataclass(frozen=True)
class Limits:
    """AWS's published limits (defaults; the raisable ones are quotas)."""

    partition_wcu: float = source(DDB + "throttling-key-range-limit-exceeded-mitigation.html", 1_000)
    partition_rcu: float = source(DDB + "warm-throughput-scenarios.html", 3_000)
    table_wru: float = source(DDB + "ServiceQuotas.html", 40_000)  # table + its GSIs; raisable
    new_table_wru: float = source(DDB + "on-demand-capacity-mode.html", 4_000)
    lambda_concurrency: float = source(LAMBDA + "gettingstarted-limits.html", 1_000)  # raisable
    esm_start_batches: float = source(LAMBDA + "services-sqs-scaling.html", 5)
    esm_added_per_min: float = source(LAMBDA + "services-sqs-scaling.html", 300)
    esm_max_batches: float = source(LAMBDA + "services-sqs-scaling.html", 1_000)  # per mapping
    max_concurrency_ceiling: float = source(LAMBDA + "API_ScalingConfig.html", 1_000)  # 2..1,000
    batch_size: float = source(SQS + "quotas-messages.html", 10)
    sqs_in_flight: float = source(SQS + "quotas-queues.html", 120_000)  # per standard queue
    api_rps: float = source("https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html", 10_000)
    api_burst: float = source("https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html", 5_000)
    tick_period_s: float = source(
        "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html", 60
    )
    lambda_max_s: float = source(LAMBDA + "gettingstarted-limits.html", 900)


@dataclass(frozen=True)
class Prices:
    """us-east-1, USD."""

    wru_per_million: float = source("https://aws.amazon.com/dynamodb/pricing/on-demand/", 0.625)
    rru_per_million: float = source("https://aws.amazon.com/dynamodb/pricing/on-demand/", 0.125)
    sqs_per_million: float = source("https://aws.amazon.com/sqs/pricing/", 0.40)  # per 64 KB chunk
    lambda_requests_per_million: float = source("https://aws.amazon.com/lambda/pricing/", 0.20)
    lambda_gb_s: float = source("https://aws.amazon.com/lambda/pricing/", 0.0000166667)  # x86
    api_per_million: float = source("https://aws.amazon.com/api-gateway/pricing/", 3.50)  # REST, first 333 M
    eventbridge_per_million: float = source("https://aws.amazon.com/eventbridge/pricing/", 1.00)
    s3_put_per_thousand: float = source("https://aws.amazon.com/s3/pricing/", 0.005)
    s3_get_per_thousand: float = source("https://aws.amazon.com/s3/pricing/", 0.0004)


@dataclass(frozen=True)
class Measured:
    """What the benches measured (docs/benchmarks.md), and a typical job's shape (assumed)."""

    dynamodb_requests_per_job: float = 3.10  # PutItem 1.00 + UpdateItem 2.10
    sqs_requests_per_job: float = 1.30  # send 1, receive, delete and visibility 0.10 each (batches of 10)
    requests_per_firing: float = 3.0  # put, send, advance
    requests_per_progress: float = 1.0
    wru_per_job_small: float = 16.1  # bench.write_units: table 3.1, indexes 13.0
    wru_per_job_large: float = 2_216.1  # the same with a 200 KB payload in the item (before)
    wru_per_progress_large: float = 603.0
    rru_per_job: float = 0.0  # a job's life reads nothing (no GetItem: bench.requests_per_job)
    payload_kb: float = 200.0
    tick_slot_s: float = 0.018  # tick time, 10 due, 1,000 stored: 180 ms / 10 slots (moto; sweeps included)
    tick_calls_per_slot: float = 3.0
    job_duration_s: float = 0.2  # assumed: a webhook-sized handler
    job_memory_gb: float = 0.5  # the workers' lambda_memory_size (.chalice/config.json)
    api_duration_s: float = 0.03  # assumed: the schedule route, one put and one send
    api_memory_gb: float = 0.5
    api_requests_per_job: float = 1.0


@dataclass(frozen=True)
class Design:
    name: str
    due_shards: int = 1  # every active cron job carries due_shard "active"
    status_shards: int = 1  # by_status is keyed by the status alone
    whole_item_state_writes: bool = True  # a state change rewrites the item, payload and all
    payload_in_s3: bool = False  # where a big payload lives when the state item is small
    tick_parallelism: int = 1  # slots fired one after another
    tick_calls_per_slot: float = 3.0  # put, send, advance; 2.1 with SendMessageBatch of 10
    due_per_shard_per_run: int | None = 1_000  # DynamoCronStore.due(limit=1000); None: no cap
    tick_window_s: float = 60.0  # how long a tick may fire (the "after" tick stops at its budget)
    due_writes_per_firing: float = 4.0  # advance moves next_run_at (delete + put), outcome, clear current
    status_writes_per_job: float = 2.0  # the `running` key: put at claim, delete at finish
    store_index_writes_per_job: float = 5.0  # by_store_status: put, then delete + put twice
    stores: int = 100  # the load spread evenly over this many stores
    queues: int = 4  # urgent, high, normal, low: one event source each
    deployed_max_concurrency: float = sum(MAXIMUM_CONCURRENCY.values())  # deploy/concurrency.py
    table_quota_wru: float | None = None  # a raised table quota (None: the default)


BEFORE = Design("before")
# The quota the "at scale" design asks for: 10,000 jobs/s x 16.1 units, with room.
RAISED_TABLE_QUOTA_WRU = 200_000


def at_scale() -> Design:
    """The built design as deployed for 10,000 jobs/s: 20 status shards, 400 invocations in all
    (MaximumConcurrency per queue, a template setting) and a raised table quota."""
    return dataclasses.replace(
        after(20), name="at scale", deployed_max_concurrency=400, table_quota_wru=RAISED_TABLE_QUOTA_WRU
    )


def after(shards: int = 16) -> Design:
    return Design(
        "after",
        due_shards=shards,
        status_shards=shards,
        tick_parallelism=32,  # TICKWORK_TICK_CONCURRENCY
        tick_calls_per_slot=2.0 + 1 / 10,
        due_per_shard_per_run=None,  # read page by page until the budget runs out
        tick_window_s=45.0,  # TICKWORK_TICK_BUDGET_S; the rest is the next tick's
        # Values over TICKWORK_INLINE_VALUE_BYTES go to S3 (chalicelib/jobs/values.py): the item
        # a state change rewrites stays small (bench.write_units: 16.0 units, 200 KB or not).
        whole_item_state_writes=False,
        payload_in_s3=True,
    )


@dataclass(frozen=True)
class Ceiling:
    name: str
    value: float
    kind: str  # partition, quota, hard, setting, transient, derived
    detail: str = ""
    quota: float | None = None  # a raisable quota's default, for the increase it would take


def hot_key_ceiling(partition_wcu: float, shards: int, writes_per_item: float, units_per_write: float) -> float:
    """Items/s one partition key (spread over ``shards``) takes before DynamoDB throttles it."""
    return partition_wcu * shards / (writes_per_item * units_per_write)


def first(ceilings: list[Ceiling], *, settings: bool = True) -> Ceiling:
    """The first bottleneck: the lowest ceiling that always holds (not a warm-up); ours too unless not ``settings``."""
    skipped = {"transient"} if settings else {"transient", "setting"}
    return min((c for c in ceilings if c.kind not in skipped), key=lambda c: c.value)


@dataclass(frozen=True)
class Model:
    limits: Limits = Limits()
    measured: Measured = Measured()
    prices: Prices = Prices()

    def wru_per_job(self, design: Design, large: bool = False) -> float:
        m = self.measured
        if not large:
            return m.wru_per_job_small
        if design.whole_item_state_writes:
            return m.wru_per_job_large
        # The state item stays small; the payload is written once, unindexed, or goes to S3.
        return m.wru_per_job_small + (0 if design.payload_in_s3 else math.ceil(m.payload_kb))

    def entry_units(self, design: Design, large: bool) -> float:
        """Units of one index entry of a job (ALL projection: the whole item)."""
        return math.ceil(self.measured.payload_kb) if large and design.whole_item_state_writes else 1

    def jobs_ceilings(self, design: Design, large: bool = False) -> list[Ceiling]:
        lim, m = self.limits, self.measured
        entry = self.entry_units(design, large)
        wru = self.wru_per_job(design, large)
        per_invocation = lim.batch_size / m.job_duration_s  # a batch's records run side by side
        concurrency_per_job = m.job_duration_s / lim.batch_size + m.api_requests_per_job * m.api_duration_s
        store_writes = max(design.store_index_writes_per_job, 3 * entry)  # by_store_status, by_store (3 writes)
        return [
            Ceiling(
                "status index: the `running` key's partition",
                hot_key_ceiling(lim.partition_wcu, design.status_shards, design.status_writes_per_job, entry),
                "partition",
                f"{fmt(lim.partition_wcu)} WCU/s x {design.status_shards} shard(s) / "
                f"({fmt(design.status_writes_per_job)} writes x {fmt(entry)} WRU)",
            ),
            Ceiling(
                "store indexes: one store's partition x stores",
                hot_key_ceiling(lim.partition_wcu, design.stores, store_writes, 1),
                "partition",
                f"one store: {fmt(lim.partition_wcu / store_writes)} jobs/s; load over {design.stores} stores",
            ),
            Ceiling(
                "jobs table + indexes: on-demand table quota",
                (design.table_quota_wru or lim.table_wru) / wru,
                "quota",
                f"{fmt(design.table_quota_wru or lim.table_wru)} WRU/s / {fmt(wru)} WRU per job",
                quota=design.table_quota_wru or lim.table_wru,
            ),
            Ceiling(
                "jobs table, new: before it has seen traffic",
                lim.new_table_wru / wru,
                "transient",
                f"{fmt(lim.new_table_wru)} WRU/s until DynamoDB scales it (or warm throughput is set)",
            ),
            Ceiling(
                "Lambda account concurrency (workers + API)",
                lim.lambda_concurrency / concurrency_per_job,
                "quota",
                f"{fmt(lim.lambda_concurrency)} / ({fmt(m.job_duration_s)} s / {fmt(lim.batch_size)} "
                f"+ {fmt(m.api_duration_s)} s of API)",
                quota=lim.lambda_concurrency,
            ),
            Ceiling(
                "SQS event sources: 1,000 batches per mapping",
                design.queues * lim.esm_max_batches * per_invocation,
                "hard",
                f"{design.queues} queues x {fmt(lim.esm_max_batches)} x {fmt(per_invocation)} jobs/s per invocation",
            ),
            Ceiling(
                "event sources' MaximumConcurrency as deployed",
                design.deployed_max_concurrency * per_invocation,
                "setting",
                f"{fmt(design.deployed_max_concurrency)} invocations x {fmt(per_invocation)} jobs/s",
            ),
            Ceiling(
                "SQS in flight: 120,000 per queue",
                design.queues * lim.sqs_in_flight / m.job_duration_s,
                "hard",
                f"{design.queues} queues x {fmt(lim.sqs_in_flight)} / {fmt(m.job_duration_s)} s in flight",
            ),
            Ceiling(
                "API Gateway: requests/s per account and region",
                lim.api_rps / m.api_requests_per_job,
                "quota",
                f"{fmt(lim.api_rps)} rps / {fmt(m.api_requests_per_job)} request per job (burst {fmt(lim.api_burst)})",
                quota=lim.api_rps,
            ),
        ]

    def max_jobs_per_s(self, design: Design, large: bool = False) -> float:
        return first(self.jobs_ceilings(design, large)).value

    def firing_ceilings(self, design: Design) -> list[Ceiling]:
        lim, m = self.limits, self.measured
        call_s = m.tick_slot_s / m.tick_calls_per_slot
        slot_s = design.tick_calls_per_slot * call_s
        window = min(lim.tick_period_s, lim.lambda_max_s, design.tick_window_s)
        ceilings = [
            Ceiling(
                "due index: the due key's partition",
                60 * hot_key_ceiling(lim.partition_wcu, design.due_shards, design.due_writes_per_firing, 1),
                "partition",
                f"60 s x {fmt(lim.partition_wcu)} WCU/s x {design.due_shards} shard(s) / "
                f"{fmt(design.due_writes_per_firing)} writes per firing",
            ),
            Ceiling(
                "tick: firing within its minute",
                window * design.tick_parallelism / slot_s,
                "hard",
                f"{fmt(window)} s x {design.tick_parallelism} at once / {fmt(slot_s * 1000)} ms per slot "
                f"({fmt(design.tick_calls_per_slot)} calls)",
            ),
            Ceiling(
                "the jobs the firings start",
                60 * self.max_jobs_per_s(design),
                "derived",
                "60 x the design's max jobs/s",
            ),
            Ceiling(
                "tick: due crons read per run",
                math.inf if design.due_per_shard_per_run is None else design.due_per_shard_per_run * design.due_shards,
                "setting",
                "no cap: pages are read until the budget runs out, the rest is the next tick's"
                if design.due_per_shard_per_run is None
                else f"{fmt(design.due_per_shard_per_run)} per query x {design.due_shards} shard(s)",
            ),
        ]
        return ceilings

    def max_firings_per_min(self, design: Design) -> float:
        return first(self.firing_ceilings(design)).value

    def cost_per_million_jobs(self, design: Design, large: bool = False) -> dict[str, float]:
        """USD per million jobs, by line; ``total`` adds them up."""
        m, p, lim = self.measured, self.prices, self.limits
        s3 = large and design.payload_in_s3 and not design.whole_item_state_writes
        lines = {
            "DynamoDB writes": self.wru_per_job(design, large) * p.wru_per_million,
            "DynamoDB reads": m.rru_per_job * p.rru_per_million,
            "SQS requests": m.sqs_requests_per_job * p.sqs_per_million,
            "Lambda requests": (1 / lim.batch_size + m.api_requests_per_job) * p.lambda_requests_per_million,
            "Lambda GB-s": (
                m.job_duration_s * m.job_memory_gb / lim.batch_size
                + m.api_requests_per_job * m.api_duration_s * m.api_memory_gb
            )
            * p.lambda_gb_s
            * 1e6,
            "API Gateway": m.api_requests_per_job * p.api_per_million,
            "S3 PUT + GET": (p.s3_put_per_thousand + p.s3_get_per_thousand) * 1000 if s3 else 0.0,
        }
        lines["total"] = sum(lines.values())
        return lines


def quota_increases(model: Model, design: Design) -> list[str]:
    """What it takes to reach the targets: quota requests, and layout or setting changes."""
    needed: list[str] = []
    for ceiling in model.jobs_ceilings(design):
        if ceiling.kind == "transient" or ceiling.value >= TARGET_JOBS_PER_S:
            continue
        factor = TARGET_JOBS_PER_S / ceiling.value
        ask = f"; a quota of {fmt(ceiling.quota * factor)} instead of {fmt(ceiling.quota)}" if ceiling.quota else ""
        needed.append(f"{ceiling.name} ({ceiling.kind}): x{factor:.1f} to reach {TARGET_JOBS_PER_S:,} jobs/s{ask}")
    for ceiling in model.firing_ceilings(design):
        if ceiling.value >= TARGET_FIRINGS_PER_MIN:
            continue
        factor = TARGET_FIRINGS_PER_MIN / ceiling.value
        needed.append(f"{ceiling.name} ({ceiling.kind}): x{factor:.1f} to reach {TARGET_FIRINGS_PER_MIN:,} firings/min")
    return needed


def ceilings_table(model: Model, designs: list[Design], markdown: bool) -> str:
    rows: list[list[str]] = []
    by_design = [(model.jobs_ceilings(d), model.firing_ceilings(d)) for d in designs]
    names = [c.name for c in by_design[0][0]] + [c.name for c in by_design[0][1]]
    for i, name in enumerate(names):
        jobs_row = i < len(by_design[0][0])
        unit = "jobs/s" if jobs_row else "firings/min"
        cells = []
        for jobs, firings in by_design:
            ceiling = (jobs if jobs_row else firings)[i if jobs_row else i - len(jobs)]
            cells.append(fmt(ceiling.value))
        kind = (by_design[0][0] + by_design[0][1])[i].kind
        rows.append([name, unit, kind, *cells])
    head = ["candidate bottleneck", "unit", "kind", *(d.name for d in designs)]
    rows.append(
        ["**max jobs/s**" if markdown else "max jobs/s", "jobs/s", "", *(fmt(model.max_jobs_per_s(d)) for d in designs)]
    )
    rows.append(
        [
            "**max cron firings/min**" if markdown else "max cron firings/min",
            "firings/min",
            "",
            *(fmt(model.max_firings_per_min(d)) for d in designs),
        ]
    )
    rows.append(
        ["max jobs/s, 200 KB payload", "jobs/s", "", *(fmt(model.max_jobs_per_s(d, large=True)) for d in designs)]
    )
    return render(head, rows, markdown)


def cost_table(model: Model, designs: list[tuple[str, Design, bool]], markdown: bool) -> str:
    costs = [model.cost_per_million_jobs(d, large) for _, d, large in designs]
    head = ["USD per million jobs", *(label for label, _, _ in designs)]
    rows = [[line, *(f"{c[line]:,.2f}" for c in costs)] for line in costs[0]]
    return render(head, rows, markdown)


def render(head: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(head, widths, strict=True))]
    out.append("-|-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out)


def report(model: Model, shards: int, markdown: bool) -> str:
    designs = [BEFORE, after(shards), at_scale()]
    parts = [ceilings_table(model, designs, markdown), ""]
    for d in designs:
        jobs, firings = first(model.jobs_ceilings(d)), first(model.firing_ceilings(d))
        parts.append(
            f"{d.name}: first bottleneck for jobs: {jobs.name} ({fmt(jobs.value)} jobs/s, {jobs.kind}); "
            f"for cron firings: {firings.name} ({fmt(firings.value)}/min, {firings.kind})"
        )
        aws = first(model.jobs_ceilings(d), settings=False)
        parts.append(
            f"{d.name}: first bottleneck for jobs that is not our setting: {aws.name} ({fmt(aws.value)} jobs/s)"
        )
    for d in designs:
        parts.append(f"\n{d.name}: to reach the targets")
        parts += [f"- {line}" for line in quota_increases(model, d)] or ["- nothing"]
    parts.append("")
    parts.append(
        cost_table(
            model,
            [
                ("before, small", BEFORE, False),
                ("after, small", designs[1], False),
                ("before, 200 KB", BEFORE, True),
                ("after, 200 KB", designs[1], True),
            ],
            markdown,
        )
    )
    return "\n".join(parts)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", type=int, default=16, help="the after design's shards")
    parser.add_argument("--markdown", action="store_true", help="print the model's tables as Markdown")


def measure(args: argparse.Namespace) -> list[Row]:
    model = Model()
    shards = getattr(args, "shards", 16)
    print(report(model, shards, getattr(args, "markdown", False)), end="\n\n", flush=True)
    before, later, scaled = BEFORE, after(shards), at_scale()
    jobs_first = first(model.jobs_ceilings(later))
    scaled_first = first(model.jobs_ceilings(scaled))
    firings_first = first(model.firing_ceilings(later))
    return [
        Row(
            "10 capacity model: jobs/s (after design as deployed vs before)",
            "jobs/s",
            model.max_jobs_per_s(later),
            model.max_jobs_per_s(before),
            "before",
            note=f"after, first bottleneck: {jobs_first.name} ({jobs_first.kind}); "
            f"before: {first(model.jobs_ceilings(before)).name}",
        ),
        Row(
            "10 capacity model: jobs/s (after design at scale vs before)",
            "jobs/s",
            model.max_jobs_per_s(scaled),
            model.max_jobs_per_s(before),
            "before",
            Target("ours", ">=", TARGET_JOBS_PER_S),
            note=f"20 status shards, MaximumConcurrency 400 in all, table quota {fmt(RAISED_TABLE_QUOTA_WRU)} WRU/s; "
            f"first bottleneck: {scaled_first.name} ({scaled_first.kind})",
        ),
        Row(
            "10 capacity model: cron firings/min (after design vs before)",
            "/min",
            model.max_firings_per_min(later),
            model.max_firings_per_min(before),
            "before",
            Target("ours", ">=", TARGET_FIRINGS_PER_MIN),
            note=f"after, first bottleneck: {firings_first.name} ({firings_first.kind}); "
            f"before: {first(model.firing_ceilings(before)).name}",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    return run_cli("capacity", __doc__ or "", add_arguments, measure, argv)


if __name__ == "__main__":
    sys.exit(main())
