"""Which cron slots a tick fires (pure): misfire policy and look-ahead, no AWS.

A slot is *upcoming* when it falls between the misfire cut-off and the tick's horizon (the
next tick): it fires now, with an SQS delay so it starts at its second. A slot older than the
cut-off was *missed* (scheduler down, cron paused, tick late): the misfire policy decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.crons.model import MisfirePolicy

# A slot less than this late is still "on time" (a late tick, a cold start): it runs at once.
MISFIRE_GRACE_S = 90
# run_all fires at most this many missed slots per tick; the rest wait for the next tick.
RUN_ALL_BATCH = 50
# Missed slots are counted up to this many; beyond it the count says "at least".
MAX_COUNTED_MISSES = 10_000


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime: ...

    def times_between(self, start: datetime, end: datetime, limit: int) -> list[datetime]: ...


@dataclass(frozen=True)
class FiringPlan:
    fire: list[datetime] = field(default_factory=list)
    skipped: int = 0  # missed slots the policy chose not to run
    catch_up: int = 0  # how many of the first slots in ``fire`` were missed (they count against rate limits)
    next_run_at: datetime | None = None  # the first slot not yet handled


def plan_firings(
    schedule: Schedule,
    next_run_at: datetime,
    *,
    now: datetime,
    horizon: datetime,
    policy: MisfirePolicy,
    grace_s: float = MISFIRE_GRACE_S,
) -> FiringPlan:
    """Slots from ``next_run_at`` (the first unfired one) up to ``horizon``, sorted out."""
    if next_run_at > horizon:
        return FiringPlan(next_run_at=next_run_at)
    cutoff = now - timedelta(seconds=grace_s)
    missed: list[datetime] = []
    if next_run_at < cutoff:
        missed = [
            next_run_at,
            *schedule.times_between(next_run_at, cutoff - timedelta(microseconds=1), MAX_COUNTED_MISSES),
        ]
    first_upcoming = next_run_at if next_run_at >= cutoff else schedule.next_after(cutoff - timedelta(microseconds=1))
    upcoming: list[datetime] = []
    if first_upcoming <= horizon:
        upcoming = [first_upcoming, *schedule.times_between(first_upcoming, horizon, 1000)]
    after_horizon = schedule.next_after(horizon)

    if policy == MisfirePolicy.RUN_ALL and len(missed) > RUN_ALL_BATCH:
        # Catch up in order, a batch a tick: the next tick resumes at the first unfired miss.
        return FiringPlan(fire=missed[:RUN_ALL_BATCH], next_run_at=missed[RUN_ALL_BATCH], catch_up=RUN_ALL_BATCH)
    if policy == MisfirePolicy.RUN_ALL:
        return FiringPlan(fire=missed + upcoming, next_run_at=after_horizon, catch_up=len(missed))
    if policy == MisfirePolicy.RUN_ONCE and missed and not (upcoming and upcoming[0] <= now):
        # One catch-up run for all the missed slots...
        return FiringPlan(fire=[missed[-1], *upcoming], skipped=len(missed) - 1, next_run_at=after_horizon, catch_up=1)
    # ...unless a slot is due right now anyway: it is the catch-up (coalesced, as APScheduler's
    # coalesce does), so a resumed job does not run twice in the same minute.
    return FiringPlan(fire=upcoming, skipped=len(missed), next_run_at=after_horizon)
