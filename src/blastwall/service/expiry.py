"""Approval requests end when their time is up, not when someone next looks at them.

The store's writer runs RequestExpiry every EVERY seconds (Store.add_upkeep): each pending
request past its expires_at is closed as a review would find it, audited as request_expired
by "system", and its proposal's status set to expired.  A run closes at most LIMIT, oldest
first, so a backlog (a database from before, or a long stop) drains without one long batch.
Every process serving a store may run it: a request already closed is not found again.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from blastwall.service.gateway import close_request, utcnow


class RequestExpiry:
    EVERY = 0.5
    LIMIT = 100

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock

    def __call__(self, tx) -> int:
        now = self.clock()
        overdue = tx.overdue_requests(now, self.LIMIT)
        for req in overdue:
            close_request(tx, req, "expired", "expired", "system", now)
        return len(overdue)

    def attach(self, store) -> "RequestExpiry":
        store.add_upkeep(self, self.EVERY)
        return self
