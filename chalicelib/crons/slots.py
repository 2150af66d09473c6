"""A cron job's slots become jobs: each slot's job, stored and sent exactly once, then the cron
job's conditional advance past it. The tick fires the slots that are due; a save fires the
first slot ahead, so that it starts on its second rather than with the tick of that minute."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.audit import appended
from chalicelib.auth import SYSTEM_PRINCIPAL
from chalicelib.clock import Clock, from_iso, to_iso
from chalicelib.crons.expression import CronError, parse_schedule
from chalicelib.crons.firing import plan_firings
from chalicelib.crons.model import CronJob, OverlapPolicy
from chalicelib.crons.store import DynamoCronStore
from chalicelib.errors import StaleWriteError, TooManyRequestsError
from chalicelib.jobs.lifecycle import JobStatus
from chalicelib.jobs.model import Job
from chalicelib.jobs.service import JobService, ScheduleOutcome

logger = logging.getLogger("tickwork.tick")

# Firing ids are uuid5(cron id, slot): a slot fired by two ticks is one job.
SLOT_NAMESPACE = uuid.UUID("0f7d3c52-8a1e-4f8b-b0f4-3f4f3c9a2e61")

# A tick sends its slot jobs within seconds; one still pending this long after its creation
# may have been left unsent (see CronSlots.fire). Under the minute between two ticks.
UNSENT_SLOT_AFTER_S = 30


class SlotInFlightError(StaleWriteError):
    """A slot's job was stored moments ago by another tick (or a save) that may not have sent it yet.

    The tick that meets it leaves the cron job's next_run_at where it is: the creator moves it
    once it has sent the message, and if it never does, the next tick derives the slot again
    and sends it then.
    """


def slot_job_id(cron_id: str, slot: datetime) -> str:
    return str(uuid.uuid5(SLOT_NAMESPACE, f"{cron_id}\n{to_iso(slot)}"))


def execution_job(
    cron: CronJob,
    *,
    slot: datetime,
    now: datetime,
    job_id: str | None = None,
    created_by: str | None = None,
    run_after: str | None = None,
) -> Job:
    """The job that runs ``cron`` for ``slot``; with ``job_id``, a run asked for now by ``created_by``."""
    stamp = to_iso(now)
    due = max(slot, now) if job_id else slot
    expires = cron.expire_after_seconds
    return Job(
        id=job_id or slot_job_id(cron.id, slot),
        type=cron.job_type,
        priority=cron.priority,
        status=JobStatus.PENDING,
        payload=cron.configuration,
        store_id=cron.store_id,
        plugin_id=cron.plugin_id,
        metadata={"cron_job_name": cron.name, "timezone": cron.timezone},
        max_retries=cron.max_retries,
        created_at=stamp,
        updated_at=stamp,
        scheduled_at=to_iso(due),
        timeout_seconds=cron.timeout_seconds,
        # Flash sales and cart reminders: a run that cannot start near its slot is not run late.
        start_by=to_iso(due + timedelta(seconds=expires)) if expires is not None else None,
        cron_job_id=cron.id,
        cron_slot=None if job_id else to_iso(slot),
        created_by=created_by or f"cron:{cron.id}",
        # A run does what its cron job says, so it acts with the rights of whoever said it.
        rights=cron.acting_rights,
        audit=appended([], "created", created_by or f"cron:{cron.id}", stamp, detail="run now" if created_by else None),
        run_after=run_after,
        overlap_policy=cron.overlap_policy.value if run_after else None,
    )


@dataclass
class Fired:
    """What firing one cron job's due slots did."""

    cron: CronJob
    fired: int = 0
    skipped: int = 0
    rate_limited: int = 0  # 1 when its catch-up waits for its store's next minute
    job_ids: list[str] = field(default_factory=list)
    lateness_s: float = 0.0  # how long after its slot the earliest slot fired went out


class CronSlots:
    def __init__(self, *, store: DynamoCronStore, jobs: JobService, clock: Clock, interval_s: int) -> None:
        self.store = store
        self.jobs = jobs
        self.clock = clock
        self.interval = timedelta(seconds=interval_s)

    def fire_due(self, cron: CronJob, tick_at: datetime, horizon: datetime) -> Fired:
        """Fire the slots of ``cron`` due before ``horizon`` and move it past them."""
        assert cron.next_run_at is not None
        try:
            schedule = parse_schedule(cron.cron_expression, cron.timezone)
        except CronError as error:
            stopped = self.store.advance(
                cron,
                next_run_at=None,
                now=to_iso(self.clock.now()),
                fired=0,
                skipped=0,
                current_job_id=None,
                deactivate_reason=f"invalid schedule: {error.message}",
            )
            return Fired(stopped)
        plan = plan_firings(
            schedule, from_iso(cron.next_run_at), now=tick_at, horizon=horizon, policy=cron.misfire_policy
        )
        slots = plan.fire
        deactivate = None
        if cron.max_runs is not None and cron.run_count + len(slots) >= cron.max_runs:
            slots = slots[: max(0, cron.max_runs - cron.run_count)]
            deactivate = f"reached max_runs ({cron.max_runs})"
        current = cron.current_job_id
        now = self.clock.now()
        next_run_at = plan.next_run_at
        rate_limited = 0
        job_ids: list[str] = []
        for index, slot in enumerate(slots):
            if index < plan.catch_up and not self._admit_catch_up(cron):
                # The rest waits for a tick in which the store has room; nothing is skipped.
                slots, next_run_at, deactivate, rate_limited = slots[:index], slot, None, 1
                break
            # Each run names the one fired before it; the worker applies the overlap policy
            # when the run is due, which is when "the previous run still runs" can be known.
            run_after = current if cron.overlap_policy != OverlapPolicy.ALLOW else None
            job = execution_job(cron, slot=slot, now=now, run_after=run_after)
            self.fire(job, now)
            current = job.id
            job_ids.append(job.id)
        if next_run_at is None and deactivate is None:
            deactivate = "the schedule has no further slots"
        # Jobs first, then the conditional advance: a crash in between leaves next_run_at where
        # it was, and the next tick re-derives the same job ids, which exist already.
        advanced = self.store.advance(
            cron,
            next_run_at=to_iso(next_run_at) if next_run_at else None,
            now=to_iso(self.clock.now()),
            fired=len(slots),
            skipped=plan.skipped,
            current_job_id=current if current != cron.current_job_id else None,
            deactivate_reason=deactivate,
        )
        lateness_s = max(0.0, (now - slots[0]).total_seconds()) if slots else 0.0
        return Fired(
            advanced,
            fired=len(slots),
            skipped=plan.skipped,
            rate_limited=rate_limited,
            job_ids=job_ids,
            lateness_s=lateness_s,
        )

    def fire_ahead(self, cron: CronJob) -> CronJob:
        """Queue the slots of a cron job just created, resumed or rescheduled that the last tick
        would have queued had the job existed then; returns the job as it now stands.

        Without this a new job's first slot waited for the tick of that very minute and started
        as late as the tick's pass through every due job (seconds, with a few dozen); queued now,
        it starts on its second like every later slot. A tick running alongside is harmless:
        the cron's advance is conditional and slot job ids are derived.
        """
        if not cron.is_active or cron.next_run_at is None:
            return cron
        now = self.clock.now()
        step = self.interval.total_seconds()
        last_tick = datetime.fromtimestamp(now.timestamp() // step * step, tz=UTC)
        horizon = last_tick + self.interval
        if from_iso(cron.next_run_at) > horizon:
            return cron
        if from_iso(cron.next_run_at) < now:
            # Missed slots (a job resumed after a pause) are the tick's to catch up, within the
            # store's rate limit: fired here, one request could queue a whole batch of them.
            return cron
        try:
            return self.fire_due(cron, now, horizon).cron
        except StaleWriteError:
            return self.store.get(cron.id) or cron  # a tick got there first
        except Exception:
            # The job is saved; the next tick fires the slot, only later than it could have.
            logger.exception("cron job %s: could not queue its first slot ahead; the tick will", cron.id)
            return cron

    def fire(self, job: Job, now: datetime) -> ScheduleOutcome:
        """Store and send a slot's job; raises SlotInFlightError if another tick just stored it.

        A slot job created moments ago belongs to a tick running alongside, which sends it:
        resending made 4 overlapping ticks queue 4 messages a slot. But that tick (or the save
        that queued the slot ahead) may have failed to send it, so this one must not advance
        past the slot either (SlotInFlightError). Only the tick that sent every slot, or found
        each one claimed or old enough to resend, moves next_run_at on; hence a slot job stored
        without its message is sent by the first tick UNSENT_SLOT_AFTER_S after its creation,
        at most UNSENT_SLOT_AFTER_S + one tick interval (90 s) later, whatever the queue's
        backlog. No extra AWS request: the ambiguity costs at most one duplicate message.
        (While the tick is down for longer than the misfire grace, the slot may become a missed
        one the policy skips; the overdue sweep, requeue_unsent, is then its fallback.)
        """
        outcome = self.jobs.submit(job, now, SYSTEM_PRINCIPAL, resend_after_s=UNSENT_SLOT_AFTER_S)
        existing = outcome.job
        age_s = (now - from_iso(existing.created_at)).total_seconds()
        if not outcome.created and existing.status == JobStatus.PENDING and age_s < UNSENT_SLOT_AFTER_S:
            raise SlotInFlightError(f"Slot job {existing.id} was stored moments ago; its creator sends it.")
        return outcome

    def _admit_catch_up(self, cron: CronJob) -> bool:
        try:
            self.jobs.admit(cron.store_id)
        except TooManyRequestsError:
            return False
        return True
