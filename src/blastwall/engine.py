"""The library entry point: load inputs once, decide many proposals."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from blastwall.core.decide import Context, decide, measure, operations_key
from blastwall.core.graph import Fleet
from blastwall.core.impact import BlastRadius, blast_radius, resolve
from blastwall.core.model import Decision, Impact, Proposal
from blastwall.core.policy import Policy
from blastwall.core.proposal import parse_proposal
from blastwall.loaders.inventory import load_inventory
from blastwall.loaders.policy import load_policy

MAX_FILE_READ = 16 * 2**20


def local_files(base: Path | None = None):
    """A FileReader over the local disk, for kubectl -f (None when unreadable)."""
    root = base or Path.cwd()

    def read(name: str) -> str | None:
        path = (root / name) if not Path(name).is_absolute() else Path(name)
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_READ:
                return None
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return read


class RadiusMemo:
    """Blast radii already measured on one fleet, by exact operations (every Operation field),
    most recently used kept.  Agents repeat themselves (the same restart, the same read), and the
    radius is a pure function of the fleet and the operations: measuring was half a decision.
    Freezes, windows, kill switches and limits are still checked for every proposal.  Bounded by
    entries and by bytes (key, arrays and unknown target names, counted whole); kept arrays are
    read-only.  BLASTWALL_RADIUS_MEMO=0 keeps none (benchmarks of cold decisions)."""

    ENTRIES = int(os.environ.get("BLASTWALL_RADIUS_MEMO", "4096"))
    MAX_ENTRY_BYTES = 256 * 1024      # a larger measurement is not kept
    BUDGET_BYTES = 64 * 2**20         # all that is kept, together

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._kept: OrderedDict[bytes, tuple[BlastRadius, Impact, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def measure(self, operations) -> tuple[BlastRadius, Impact]:
        key = operations_key(operations)
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                self.hits += 1
                return found[0], found[1]
            self.misses += 1
        radius, impact = measure(self.fleet, operations)
        cost = _footprint(radius, impact, len(key), self.MAX_ENTRY_BYTES) if self.ENTRIES > 0 else None
        if cost is not None:
            _freeze(radius)
            with self._lock:
                if key not in self._kept:
                    self._kept[key] = (radius, impact, cost)
                    self._bytes += cost
                while self._kept and (len(self._kept) > self.ENTRIES or self._bytes > self.BUDGET_BYTES):
                    self._bytes -= self._kept.popitem(last=False)[1][2]
        return radius, impact


DERIVED_BYTES = 4096               # the facts decide.py keeps on a radius (names and counts)


def _footprint(radius: BlastRadius, impact: Impact, key_bytes: int, limit: int) -> int | None:
    """Bytes kept for one entry (key, arrays, names, ~1 KiB of objects, and what decide.py derives
    from it and keeps on it: the resources a change touches, once more, and its facts), or None once
    over ``limit``."""
    arrays = [getattr(radius, f.name) for f in fields(radius)] + list(radius.resolved.by_verb.values())
    total = 1024 + DERIVED_BYTES + key_bytes + sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    total += radius.touched.nbytes + sum(a.nbytes for a in radius.resolved.by_verb.values())   # its "changing" set
    for names in (radius.resolved.unknown, impact.targets, impact.environments, impact.regions):
        if total > limit:
            return None
        total += sum(len(n) + 50 for n in names)
    return total if total <= limit else None


def _freeze(radius: BlastRadius) -> None:
    for f in fields(radius):
        value = getattr(radius, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    for arr in radius.resolved.by_verb.values():
        arr.flags.writeable = False


@dataclass
class Engine:
    fleet: Fleet
    policy: Policy

    @property
    def radii(self) -> RadiusMemo:
        """The blast radii kept for this engine's fleet (they belong to the fleet, not the engine)."""
        return self.fleet.cached(("radius-memo",), lambda: RadiusMemo(self.fleet))

    @classmethod
    def load(cls, inventory: str | Path, policy: str | Path | None = None) -> "Engine":
        return cls(load_inventory(inventory), load_policy(policy))

    def decide(self, proposal: Proposal | dict[str, Any], *, now: datetime | None = None,
               kill_switch: bool = False, files=None) -> Decision:
        if not isinstance(proposal, Proposal):
            proposal = parse_proposal(proposal, files)
        ctx = Context(now=now or datetime.now(timezone.utc), kill_switch=kill_switch)
        return decide(self.fleet, self.policy, proposal, ctx, self.radii.measure(proposal.operations))

    def blast_radius(self, proposal: Proposal) -> BlastRadius:
        return blast_radius(self.fleet, resolve(self.fleet, proposal.operations))
