"""The worker's door: a batch's jobs take their store's slots before they run; the rest wait.

Jobs are grouped by (store, plugin) from their messages, one take per group. A job that finds
no slot is not claimed (no attempt used, its job stays pending): its message is hidden for
about as long as the store needs to free a slot for it (stores/policy.py) and comes back then.
Hiding is one visibility change for the batch's deferred messages, and the message leaves the
queue's visible head, so other stores' jobs behind a flood are received at once. A paused store
(or plugin) is a cap of 0: its jobs wait the same way, looking again every ``paused_recheck_s``.
A message that names no store (sent before messages did, or by hand) is gated by its job's store,
read: the pause and the caps hold for every job, whatever message brings it.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from chalicelib.aws.queues import SqsPriorityQueues
from chalicelib.clock import Clock
from chalicelib.jobs.model import Job, JobMessage
from chalicelib.stores.policy import MIN_DEFER_S, defer_delays, paused_delays
from chalicelib.stores.slots import StoreSlots, Taken

logger = logging.getLogger("tickwork.stores")


@dataclass
class Group:
    store_id: str
    plugin_id: str | None
    records: list[dict[str, Any]]
    taken: Taken | None = None


@dataclass
class Admission:
    """What may run now, what was deferred (its visibility already set), and the slots to give back."""

    admitted: list[dict[str, Any]] = field(default_factory=list)
    deferred: list[dict[str, Any]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)


def receive_count(record: dict[str, Any]) -> int:
    return int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))


class StoreGate:
    def __init__(
        self,
        slots: StoreSlots,
        queues: SqsPriorityQueues,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        paused_recheck_s: int = 60,
        job_of: Callable[[str], Job | None] | None = None,
    ) -> None:
        self._slots = slots
        self._queues = queues
        self._clock = clock
        self._rng = rng or random.Random()
        self._paused_recheck_s = paused_recheck_s
        self._job_of = job_of

    def admit(self, records: list[dict[str, Any]]) -> Admission:
        admission = Admission()
        groups: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
        hidden: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for record in records:
            try:
                message = JobMessage.model_validate_json(record["body"])
            except (ValidationError, KeyError):
                message = None
            if message is not None and message.store_id is None and self._job_of is not None:
                try:
                    job = self._job_of(message.job_id)
                except Exception:
                    # Its store unknown, it must not start (it may be paused): it looks again soon.
                    logger.exception("message %s: its job's store unread; it comes back", record.get("messageId"))
                    hidden[self._queue_url(record)].append((record["receiptHandle"], MIN_DEFER_S))
                    admission.deferred.append(record)
                    continue
                if job is not None:
                    message = message.model_copy(update={"store_id": job.store_id, "plugin_id": job.plugin_id})
            if message is None or message.store_id is None:
                # Unreadable (the worker parks it), or its job is missing (parked too) or of no store.
                admission.admitted.append(record)
            else:
                groups[(message.store_id, message.plugin_id)].append(record)
        now_s = self._clock.now().timestamp()
        for (store_id, plugin_id), members in groups.items():
            # The longest waiting first: a job deferred before goes ahead of one received now.
            members.sort(key=receive_count, reverse=True)
            returning = sum(1 for record in members if receive_count(record) > 1)
            taken = self._slots.take(store_id, plugin_id, len(members), returning=returning, now_s=now_s)
            admission.groups.append(Group(store_id, plugin_id, members, taken))
            admission.admitted += members[: taken.n]
            waiting = members[taken.n :]
            if not waiting:
                continue
            if taken.paused:
                delays = paused_delays(len(waiting), recheck_s=self._paused_recheck_s, rng=self._rng)
            else:
                delays = defer_delays(
                    len(waiting),
                    waiting=taken.waiting,
                    cap=min(taken.caps.store, taken.caps.plugin),
                    mean_run_s=taken.mean_run_s,
                    rng=self._rng,
                    first_free_s=taken.first_free_s,
                )
            for record, delay in zip(waiting, delays, strict=True):
                hidden[self._queue_url(record)].append((record["receiptHandle"], delay))
            admission.deferred += waiting
            logger.info(
                "store %s plugin %s: %s of %s jobs deferred (%s-%s s): %s",
                store_id,
                plugin_id,
                len(waiting),
                len(members),
                min(delays),
                max(delays),
                "paused" if taken.paused else "the store is at its cap",
            )
        for queue_url, entries in hidden.items():
            # Should this fail, the messages come back after the lease the batch gave them.
            self._queues.set_visibility_each(queue_url, entries)
        return admission

    def _queue_url(self, record: dict[str, Any]) -> str:
        return self._queues.url_for_name(record["eventSourceARN"].rsplit(":", 1)[-1])

    def renew(self, admission: Admission) -> None:
        now_s = self._clock.now().timestamp()
        for group in admission.groups:
            if group.taken is not None and group.taken.n:
                try:
                    self._slots.renew(group.store_id, group.taken, now_s=now_s)
                except Exception:
                    logger.exception("store %s: slots not renewed; the next renewal tries again", group.store_id)

    def holds(self, admission: Admission) -> bool:
        return any(group.taken is not None and group.taken.n for group in admission.groups)

    @property
    def hold_s(self) -> float:
        return self._slots.hold_s

    def release(self, admission: Admission, *, run_s: float) -> None:
        for group in admission.groups:
            if group.taken is None or group.taken.n == 0:
                continue
            try:
                self._slots.release(group.store_id, group.plugin_id, group.taken, run_s=run_s)
            except Exception:
                # The holder lapses on its own (a lease on): the slots come back, later.
                logger.exception("store %s: slots not given back; they lapse", group.store_id)
