"""Signed audit checkpoints at a fixed cadence, from a background thread of the service.

``blastwall serve --checkpoint-key FILE`` starts one ``CheckpointThread``: every ``poll``
seconds it asks the ``Checkpointer`` whether ``every_records`` new records or
``every_seconds`` have passed since the last checkpoint, and if so verifies the new
records, signs (Ed25519) and stores a checkpoint.  The latest is served as text by
``GET /v1/audit/checkpoints``.  With several replicas, give the key to one of them.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blastwall.audit.checkpoint import (ChainBroken, Checkpoint, Checkpointer, generate_key, load_private_key,
                                        public_key_text)
from blastwall.errors import BlastwallError
from blastwall.store.base import Store


def signing_key(path: str | Path) -> tuple[Ed25519PrivateKey, Path, bool]:
    """(key, public key file, created): the key in ``path``, generated (mode 0600) when missing.
    The public key is kept beside it as ``path.pub`` (written again if it went missing)."""
    path = Path(path)
    created = not path.exists()
    key = generate_key(path) if created else load_private_key(path)
    public = Path(f"{path}.pub")
    if not public.exists():
        public.write_text(public_key_text(key.public_key()))
    return key, public, created


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CheckpointThread:
    """Calls ``Checkpointer.maybe_checkpoint`` every ``poll`` seconds until stopped."""

    def __init__(self, store: Store, key: Ed25519PrivateKey, every_records: int = 1000,
                 every_seconds: float = 300.0, poll: float = 0.5, clock: Callable[[], datetime] = utcnow,
                 report: Callable[[str], None] = print) -> None:
        self.store, self.clock, self.report = store, clock, report
        self.poll = min(poll, every_seconds)
        self.checkpointer = Checkpointer(key, every_records, every_seconds)
        self._stop = threading.Event()
        self._last_problem = ""
        self._thread = threading.Thread(target=self._run, name="blastwall-checkpoints", daemon=True)

    def start(self) -> "CheckpointThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001  a bug must not end checkpointing unnoticed
                self._problem(f"checkpoint not made: {type(exc).__name__}: {exc}")

    def tick(self) -> Checkpoint | None:
        """One attempt; problems are reported (once while they last) and retried next time."""
        try:
            made = self.checkpointer.maybe_checkpoint(self.store, self.clock())
        except ChainBroken as exc:
            self._problem(f"AUDIT CHAIN BROKEN, no checkpoint signed: {exc}")
            return None
        except BlastwallError as exc:                  # the store is down, for one
            self._problem(f"checkpoint not made: {exc}")
            return None
        self._last_problem = ""
        return made

    def _problem(self, message: str) -> None:
        if message != self._last_problem:
            self.report(message)
            self._last_problem = message
