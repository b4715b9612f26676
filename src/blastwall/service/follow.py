"""Every process on one store serves the same inventory, policy and principals.

A reload (SIGHUP, or POST /v1/admin/reload answered by one worker or replica) counts one
more generation in the store; each process looks every RELOAD_FOLLOW_S and, when another
moved it on, loads its own files again (recorded when something changed there).
"""
from __future__ import annotations

import threading
from typing import Callable

RELOAD_FOLLOW_S = 0.5


class ReloadFollower:
    def __init__(self, gateway, every: float = RELOAD_FOLLOW_S, report: Callable[[str], None] = print) -> None:
        self.gateway, self.every, self.report = gateway, every, report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="blastwall-reload-follower", daemon=True)

    def start(self) -> "ReloadFollower":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.gateway.follow_reloads()
            except Exception as exc:  # noqa: BLE001  a broken file or an unreachable store: say so, go on
                self.report(f"blastwall: could not follow a reload: {exc}")
