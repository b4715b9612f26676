"""The fleet as columnar arrays plus CSR adjacency, and the traversal kernel.

Resources are numbered 0..n-1 in bytewise order of their ids.  Nothing on the
hot path holds a Python object per resource: columns are NumPy arrays,
categorical fields are small integer codes into a vocabulary, ids and aliases
live in sorted string blobs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from blastwall.core.strings import StringTable

CATEGORICAL = ("kind", "env", "region", "cell", "owner")
ABSENT = ""  # vocabulary entry for an absent optional field (cell, owner, tag)


@dataclass(frozen=True, slots=True)
class Coded:
    """A categorical column: ``vocab[codes[i]]`` is resource i's value."""
    codes: np.ndarray
    vocab: tuple[str, ...]

    def code_of(self, value: str) -> int:
        try:
            return self.vocab.index(value)
        except ValueError:
            return -1

    def values(self, idx: np.ndarray) -> list[str]:
        """Sorted distinct values over ``idx``, absent left out."""
        present = np.unique(self.codes[idx])
        return sorted(v for v in (self.vocab[c] for c in present) if v != ABSENT)


@dataclass(frozen=True, slots=True)
class CSR:
    indptr: np.ndarray   # int64, n + 1
    indices: np.ndarray  # int32

    @classmethod
    def from_edges(cls, src: np.ndarray, dst: np.ndarray, n: int) -> "CSR":
        """Row ``src[k]`` lists ``dst[k]``."""
        order = np.argsort(src, kind="stable")
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        return cls(indptr, dst[order].astype(np.int32, copy=False))

    def row(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i]:self.indptr[i + 1]]

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes


@dataclass(frozen=True)
class Fleet:
    ids: StringTable
    aliases: StringTable
    alias_target: np.ndarray          # int32: resource of each alias
    columns: Mapping[str, Coded]      # kind, env, region, cell, owner
    tags: Mapping[str, Coded]         # tag key -> column ('' = no such tag)
    customers: np.ndarray             # int64
    cost: np.ndarray                  # float64, per month
    stateful: np.ndarray              # bool
    dependents: CSR                   # who stops working if i breaks (depends_on and parent, reversed)
    children: CSR                     # who is deleted with i (parent, reversed)
    revision: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.ids)

    def lookup(self, name: str) -> int:
        """Resource index for an id or alias, or -1."""
        i = self.ids.find(name)
        if i >= 0:
            return i
        j = self.aliases.find(name)
        return int(self.alias_target[j]) if j >= 0 else -1

    def id_of(self, i: int) -> str:
        return self.ids[int(i)]

    def column(self, name: str) -> Coded:
        return self.columns[name]

    def nbytes(self) -> dict[str, int]:
        arrays = {
            "columns": sum(c.codes.nbytes for c in self.columns.values()),
            "tags": sum(c.codes.nbytes for c in self.tags.values()),
            "numbers": self.customers.nbytes + self.cost.nbytes + self.stateful.nbytes,
            "dependents": self.dependents.nbytes,
            "children": self.children.nbytes,
            "ids": self.ids.nbytes,
            "aliases": self.aliases.nbytes + self.alias_target.nbytes,
        }
        return arrays

    def cached(self, key: str, compute) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


def closure(csr: CSR, sources: np.ndarray, n: int) -> np.ndarray:
    """Every node reachable from ``sources`` along ``csr`` (sources included), sorted.

    Level-synchronous BFS over whole frontiers; cycles are harmless because a
    node joins at most once.
    """
    seen = np.zeros(n, dtype=bool)
    frontier = np.unique(np.asarray(sources, dtype=np.int64))
    seen[frontier] = True
    levels = [frontier]
    while frontier.size:
        reached = _neighbours(csr, frontier)
        reached = reached[~seen[reached]]
        if not reached.size:
            break
        frontier = _dedupe(reached, n)
        seen[frontier] = True
        levels.append(frontier)
    out = np.concatenate(levels)
    out.sort()
    return out


def _neighbours(csr: CSR, frontier: np.ndarray) -> np.ndarray:
    starts = csr.indptr[frontier]
    lens = csr.indptr[frontier + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    if frontier.size == 1:
        return csr.indices[starts[0]:starts[0] + total].astype(np.int64)
    shift = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    return csr.indices[shift + np.arange(total)].astype(np.int64, copy=False)


def _dedupe(nodes: np.ndarray, n: int) -> np.ndarray:
    if nodes.size < 64:
        return np.unique(nodes)
    slot = np.empty(n, dtype=np.int32)
    pos = np.arange(nodes.size, dtype=np.int32)
    slot[nodes] = pos
    return nodes[slot[nodes] == pos]


def match(fleet: Fleet, selector: Mapping[str, Any], idx: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask over ``idx`` (default: every resource) of resources matching ``selector``.

    Fields compare by equality; ``tags`` entries must all match; ``alias_prefix``
    keeps resources with an alias starting with it; ``id`` names one resource.
    """
    idx = np.arange(fleet.size) if idx is None else idx
    mask = np.ones(idx.size, dtype=bool)
    for key, value in selector.items():
        mask &= _field_mask(fleet, key, value, idx)
    return mask


def _field_mask(fleet: Fleet, key: str, value: Any, idx: np.ndarray) -> np.ndarray:
    if key in fleet.columns:
        return fleet.columns[key].codes[idx] == fleet.columns[key].code_of(str(value))
    if key == "tags":
        mask = np.ones(idx.size, dtype=bool)
        for tk, tv in value.items():
            col = fleet.tags.get(tk)
            mask &= (col.codes[idx] == col.code_of(str(tv))) if col else False
        return mask
    if key == "id":
        return idx == fleet.ids.find(str(value))
    if key == "stateful":
        return fleet.stateful[idx] == bool(value)
    if key == "alias_prefix":
        lo, hi = fleet.aliases.prefix_range(str(value))
        return np.isin(idx, fleet.alias_target[lo:hi])
    raise KeyError(key)


SELECTOR_FIELDS = frozenset(CATEGORICAL) | {"tags", "id", "stateful", "alias_prefix"}
