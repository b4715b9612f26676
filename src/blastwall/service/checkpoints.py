"""Signed audit checkpoints at a fixed cadence, from a background thread of the service.

``blastwall serve --checkpoint-key FILE`` starts one ``CheckpointThread``: every ``poll``
seconds it asks the ``Checkpointer`` whether ``every_records`` new records or
``every_seconds`` have passed since the last checkpoint, and if so verifies the new
records, signs (Ed25519) and stores a checkpoint.  The latest is served as text by
``GET /v1/audit/checkpoints``.  With several replicas, give the key to one of them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blastwall.audit.checkpoint import (ChainBroken, Checkpoint, Checkpointer, generate_key, load_private_key,
                                        public_key_text)
from blastwall.errors import BlastwallError
from blastwall.service.periodic import Periodic
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


class CheckpointThread(Periodic):
    """Calls ``Checkpointer.maybe_checkpoint`` every ``poll`` seconds until stopped."""
    name, failing = "blastwall-checkpoints", "checkpoint not made"

    def __init__(self, store: Store, key: Ed25519PrivateKey, every_records: int = 1000,
                 every_seconds: float = 300.0, poll: float = 0.5, clock: Callable[[], datetime] = utcnow,
                 report: Callable[[str], None] = print) -> None:
        super().__init__(min(poll, every_seconds), report)
        self.store, self.clock = store, clock
        self.checkpointer = Checkpointer(key, every_records, every_seconds)

    def tick(self) -> Checkpoint | None:
        """One attempt; problems are reported (once while they last) and retried next time."""
        try:
            made = self.checkpointer.maybe_checkpoint(self.store, self.clock())
        except ChainBroken as exc:
            self.problem(f"AUDIT CHAIN BROKEN, no checkpoint signed: {exc}")
            return None
        except BlastwallError as exc:                  # the store is down, for one
            self.problem(f"checkpoint not made: {exc}")
            return None
        self.fine()
        return made
