"""A service's background loop: ``tick()`` every ``every`` seconds on a daemon thread until
stopped; a problem is reported once while it lasts, and the loop goes on."""
from __future__ import annotations

import threading
from typing import Callable


class Periodic:
    name = "blastwall-periodic"
    failing = "failed"                  # what a report of an unexpected error starts with

    def __init__(self, every: float, report: Callable[[str], None] = print) -> None:
        self.every, self.report = every, report
        self._stop = threading.Event()
        self._last_problem = ""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def tick(self) -> object:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001  a bug must not end the loop unnoticed
                self.problem(f"{self.failing}: {type(exc).__name__}: {exc}")

    def problem(self, message: str) -> None:
        if message != self._last_problem:
            self.report(message)
            self._last_problem = message

    def fine(self) -> None:
        self._last_problem = ""
