"""What an invocation counted, written once at its end: one UpdateItem, none when nothing was counted."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from chalicelib.clock import Clock
from chalicelib.stats.counters import Tally, depth_name
from chalicelib.stats.store import DynamoStats

logger = logging.getLogger("tickwork.stats")


class StatsRecorder:
    def __init__(self, store: DynamoStats, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.tally = Tally()

    def flush(self, depths: Mapping[str, int] | None = None) -> bool:
        """Write the tally (and ``depths``, a tick's sample by priority) into this minute; True if a write was made.

        A failed write loses these counts, never the jobs': the overview is a picture, not a ledger.
        """
        counts = self.tally.take()
        if not counts and not depths:
            return False
        try:
            sampled = {depth_name(priority): n for priority, n in (depths or {}).items()}
            self.store.add(self.clock.now(), counts, sampled)
        except Exception:
            logger.exception("could not write %d stats counters; the overview will miss them", len(counts))
            return False
        return True
