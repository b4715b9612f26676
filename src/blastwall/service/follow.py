"""Every process on one store serves the same inventory, policy and principals.

A reload (SIGHUP, or POST /v1/admin/reload answered by one worker or replica) counts one
more generation in the store; each process looks every RELOAD_FOLLOW_S and, when another
moved it on, loads its own files again (recorded when something changed there).
"""
from __future__ import annotations

from typing import Callable

from blastwall.service.periodic import Periodic

RELOAD_FOLLOW_S = 0.5


class ReloadFollower(Periodic):
    name, failing = "blastwall-reload-follower", "blastwall: could not follow a reload"

    def __init__(self, gateway, every: float = RELOAD_FOLLOW_S, report: Callable[[str], None] = print) -> None:
        super().__init__(every, report)
        self.gateway = gateway

    def tick(self) -> bool:
        followed = self.gateway.follow_reloads()
        self.fine()
        return followed
