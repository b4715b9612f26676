"""Approval requests end when their time is up, not when someone next looks at them.

The store's writer runs RequestExpiry every EVERY seconds with a write batch, or on its own
after IDLE_EVERY seconds without one, or after EVERY while runs come back full (Store.add_upkeep):
the pending requests past their expires_at are marked expired, their proposals too, and one
audit record, requests_expired by "system", names them all.  (A review that finds a request
overdue first closes it alone, as request_expired.)  A run takes at most LIMIT, soonest expired
first, found through an index of the pending requests by expiry, so neither a backlog nor a
long history makes one batch long.  Every process serving a store may run it: a request
already closed is not found again.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from blastwall.service.gateway import utcnow


class RequestExpiry:
    EVERY = 0.05
    IDLE_EVERY = 1.0       # with no write for this long, the writer wakes for it
    LIMIT = 50             # up to ~1,000 a second (the benchmark opens ~1,000 a second), in small runs:
                           # on a 1.3 GB database a run of 200 took 6-9 ms of one batch, 50 ~1.8 ms

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    def __call__(self, tx) -> int:
        now = self.clock()
        overdue = tx.overdue_requests(now, self.LIMIT)
        if overdue:
            tx.expire_requests(overdue)
            tx.audit("requests_expired", "system", {"request_ids": [r["id"] for r in overdue],
                                                    "proposal_ids": [r["proposal_id"] for r in overdue]}, now)
        return len(overdue)

    def attach(self, store) -> "RequestExpiry":
        store.add_upkeep(self, self.EVERY, wake_every=self.IDLE_EVERY, more=self.full)
        return self

    def full(self, closed: int) -> bool:
        """A run that closed LIMIT requests may have left more: the writer comes back after EVERY."""
        return closed >= self.LIMIT
