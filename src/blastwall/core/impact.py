"""Resolution of operations against the fleet, and the blast radius (contract section 1)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from blastwall.core.graph import SELECTOR_FIELDS, Fleet, closure, match
from blastwall.core import sets
from blastwall.core.model import CHANGE_VERBS, DESTRUCTIVE_VERBS, Impact, Operation, Verb
from blastwall.errors import ProposalError

_EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Resolved:
    """Operations resolved to resource indices, grouped by what they do."""
    by_verb: dict[Verb, np.ndarray]     # sorted unique indices per verb
    unknown: tuple[str, ...]             # target names that match nothing
    unknown_destructive: int             # of those, under delete/replace or a destructive exec
    created_cost: float
    verbs: tuple[str, ...]

    def indices(self, verbs: Iterable[Verb]) -> np.ndarray:
        parts = [self.by_verb[v] for v in verbs if v in self.by_verb]
        if len(parts) == 1:
            return parts[0]                              # already sorted and unique
        return sets.distinct(np.concatenate(parts)) if parts else _EMPTY


def resolve(fleet: Fleet, operations: Sequence[Operation]) -> Resolved:
    hits: dict[Verb, list[np.ndarray]] = {}
    unknown: set[str] = set()
    unknown_destructive: set[str] = set()
    created_cost = 0.0
    for i, op in enumerate(operations):
        verb, idx, missing = _resolve_one(fleet, op, i)
        if verb is Verb.CREATE:
            created_cost += op.cost_per_month
        if idx.size:
            hits.setdefault(verb, []).append(idx)
        if missing:
            unknown.add(missing)
            if verb in DESTRUCTIVE_VERBS or op.destructive:
                unknown_destructive.add(missing)
    # one operation's indices are already sorted and unique (a lookup, or flatnonzero of a selector)
    by_verb = {v: parts[0] if len(parts) == 1 else sets.distinct(np.concatenate(parts)) for v, parts in hits.items()}
    verbs = tuple(sorted({str(op.verb) for op in operations}))
    return Resolved(by_verb, tuple(sorted(unknown)), len(unknown_destructive), created_cost, verbs)


def _resolve_one(fleet: Fleet, op: Operation, i: int) -> tuple[Verb, np.ndarray, str | None]:
    if (op.target is None) == (op.selector is None):
        if op.verb is Verb.READ and op.target is None:
            return op.verb, _EMPTY, None          # a local read that touches nothing
        raise ProposalError("an operation names exactly one of 'target' or 'selector'",
                            field=f"operations[{i}]")
    if op.selector is not None:
        idx = _select(fleet, op.selector, i)
        if idx.size or op.verb in (Verb.READ, Verb.CREATE):
            return op.verb, idx, None
        return op.verb, idx, _selector_label(op.selector)   # matching nothing proves nothing: unknown
    found = fleet.lookup(op.target)
    if found >= 0:
        verb = Verb.UPDATE if op.upsert else op.verb
        return verb, np.array([found], dtype=np.int64), None
    if op.verb is Verb.CREATE or op.upsert:
        return Verb.CREATE, _EMPTY, None           # creating something new breaks nothing
    if op.verb is Verb.READ and op.fallback and fleet.lookup(op.fallback) >= 0:
        return op.verb, np.array([fleet.lookup(op.fallback)], dtype=np.int64), None
    return op.verb, _EMPTY, op.target


def _selector_label(selector) -> str:
    return "<selector matching nothing: " + json.dumps(selector, sort_keys=True) + ">"


def _select(fleet: Fleet, selector, i: int) -> np.ndarray:
    bad = set(selector) - SELECTOR_FIELDS
    if bad:
        raise ProposalError(f"unknown selector field '{sorted(bad)[0]}'", field=f"operations[{i}].selector")
    if not selector:
        raise ProposalError("an empty selector would match the whole fleet; name fields",
                            field=f"operations[{i}].selector")
    return np.flatnonzero(match(fleet, selector)).astype(np.int64)


@dataclass(frozen=True)
class BlastRadius:
    """Index sets of the blast radius; aggregates come from ``impact()``."""
    fleet: Fleet
    resolved: Resolved
    targets: np.ndarray      # T
    deleted: np.ndarray
    degraded: np.ndarray
    touched: np.ndarray      # deleted ∪ degraded ∪ T
    destructive: np.ndarray  # deleted ∪ what degrades because of deletions
    cost_delta: float
    derived: dict = field(default_factory=dict, compare=False, repr=False)   # values computed from it, kept

    def impact(self) -> Impact:
        f, t = self.fleet, self.touched
        return Impact(
            targets=tuple(sorted(f.id_of(i) for i in self.targets)),
            unknown_targets=self.resolved.unknown,
            deleted=int(self.deleted.size), degraded=int(self.degraded.size),
            resources=int(t.size),
            environments=tuple(f.column("env").values(t)),
            regions=tuple(f.column("region").values(t)),
            customers=int(f.customers[t].sum()),
            stateful_deleted=int(f.stateful[self.deleted].sum()),
            cost_delta_per_month=float(self.cost_delta),
            fleet_fraction=(t.size / f.size) if f.size else 0.0,
        )


TARGET_VERBS = (Verb.UPDATE, Verb.DELETE, Verb.REPLACE, Verb.RESTART, Verb.SCALE, Verb.EXEC)


def blast_radius(fleet: Fleet, resolved: Resolved) -> BlastRadius:
    n = fleet.size
    removed = resolved.indices([Verb.DELETE])
    replaced = resolved.indices([Verb.REPLACE])
    changed = resolved.indices(CHANGE_VERBS)
    targets = resolved.indices(TARGET_VERBS)
    deleted = _closure_or_empty(fleet.children, resolved.indices(DESTRUCTIVE_VERBS), n)
    broken = _closure_or_empty(fleet.dependents, sets.union(deleted, changed, n), n)
    degraded = sets.difference(broken, deleted, n)
    touched = sets.union(broken, targets, n)          # broken = deleted ∪ degraded
    destructive = broken if not changed.size else _closure_or_empty(fleet.dependents, deleted, n)
    if not replaced.size:
        lost = deleted                                 # the same closure: only deletions
    else:
        lost = sets.difference(_closure_or_empty(fleet.children, removed, n),
                               _closure_or_empty(fleet.children, replaced, n), n)
    cost_delta = resolved.created_cost - float(fleet.cost[lost].sum())
    return BlastRadius(fleet, resolved, targets, deleted, degraded, touched, destructive, cost_delta)


def _closure_or_empty(csr, sources: np.ndarray, n: int) -> np.ndarray:
    return closure(csr, sources, n) if sources.size else _EMPTY
