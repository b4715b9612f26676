"""The library entry point: load inputs once, decide many proposals."""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from blastwall.core.decide import Context, decide, measure
from blastwall.core.graph import Fleet
from blastwall.core.impact import BlastRadius, blast_radius, resolve
from blastwall.core.model import Decision, Impact, Operation, Proposal
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
    Policy, clock, kill switches and limits are still evaluated for every proposal.  Bounded by
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
        cost = len(key) + _footprint(radius, impact)
        if self.ENTRIES > 0 and cost <= self.MAX_ENTRY_BYTES:
            _freeze(radius)
            with self._lock:
                if key not in self._kept:
                    self._kept[key] = (radius, impact, cost)
                    self._bytes += cost
                while self._kept and (len(self._kept) > self.ENTRIES or self._bytes > self.BUDGET_BYTES):
                    self._bytes -= self._kept.popitem(last=False)[1][2]
        return radius, impact


def _footprint(radius: BlastRadius, impact: Impact) -> int:
    arrays = [getattr(radius, f.name) for f in fields(radius)] + list(radius.resolved.by_verb.values())
    names = [*radius.resolved.unknown, *impact.targets, *impact.environments, *impact.regions]
    return (sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)) + sum(len(n) + 50 for n in names)
            + 1024)                                    # objects around them


def operations_key(operations) -> bytes:
    fields_ = [[getattr(op, name) for name in _OPERATION_FIELDS] for op in operations]
    try:
        return orjson.dumps(fields_, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:                          # non-string selector keys: the slower, exact encoder
        return json.dumps(fields_, sort_keys=True, default=repr).encode()


def _freeze(radius: BlastRadius) -> None:
    for f in fields(radius):
        value = getattr(radius, f.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    for arr in radius.resolved.by_verb.values():
        arr.flags.writeable = False


_OPERATION_FIELDS = tuple(f.name for f in fields(Operation))


@dataclass
class Engine:
    fleet: Fleet
    policy: Policy
    radii: RadiusMemo | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.radii is None:
            self.radii = RadiusMemo(self.fleet)

    @classmethod
    def load(cls, inventory: str | Path, policy: str | Path | None = None) -> "Engine":
        return cls(load_inventory(inventory), load_policy(policy))

    def decide(self, proposal: Proposal | dict[str, Any], *, now: datetime | None = None,
               kill_switch: bool = False, files=None) -> Decision:
        if not isinstance(proposal, Proposal):
            proposal = parse_proposal(proposal, files)
        ctx = Context(now=now or datetime.now(timezone.utc), kill_switch=kill_switch)
        if self.radii.fleet is not self.fleet:             # dataclasses.replace(engine, fleet=...)
            self.radii = RadiusMemo(self.fleet)
        return decide(self.fleet, self.policy, proposal, ctx, self.radii.measure(proposal.operations))

    def blast_radius(self, proposal: Proposal) -> BlastRadius:
        return blast_radius(self.fleet, resolve(self.fleet, proposal.operations))
