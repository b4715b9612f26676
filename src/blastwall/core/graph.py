"""The fleet as columnar arrays plus CSR adjacency, and the traversal kernel.

Resources are numbered 0..n-1 in bytewise order of their ids.  Nothing on the
hot path holds a Python object per resource: columns are NumPy arrays,
categorical fields are small integer codes into a vocabulary, ids and aliases
live in sorted string blobs.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blastwall.core import sets
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
        codes = self.codes[idx]
        if codes.size <= 256:
            present = set(codes.tolist())
        elif len(self.vocab) <= 32:    # a vectorised scan per value beats counting (np.unique hashes)
            present = [c for c in range(len(self.vocab)) if (codes == c).any()]
        else:
            present = np.flatnonzero(np.bincount(codes, minlength=len(self.vocab))).tolist()
        return sorted(v for v in (self.vocab[c] for c in present) if v != ABSENT)


@dataclass(frozen=True, slots=True)
class CSR:
    indptr: np.ndarray   # n + 1; uint32 while the edges fit, else int64
    indices: np.ndarray  # int32
    # zeroed visit masks handed back after each closure (a pool, so threads never share one)
    _scratch: list = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_edges(cls, src: np.ndarray, dst: np.ndarray, n: int) -> "CSR":
        """Row ``src[k]`` lists ``dst[k]``; each row sorted, whatever the edges' order."""
        key = np.asarray(src, dtype=np.int64) * n + np.asarray(dst, dtype=np.int64)
        key.sort()                                 # one sort of plain integers: the fastest way
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(key // max(n, 1), minlength=n), out=indptr[1:])
        return cls(compact_indptr(indptr), (key % max(n, 1)).astype(np.int32))

    def row(self, i: int) -> np.ndarray:
        return self.indices[int(self.indptr[i]):int(self.indptr[i + 1])]

    @property
    def nbytes(self) -> int:
        return self.indptr.nbytes + self.indices.nbytes


def compact_indptr(indptr: np.ndarray) -> np.ndarray:
    """uint32 row pointers when the edge count fits (4 bytes per resource saved)."""
    return indptr.astype(np.uint32) if indptr[-1] < 2**32 else indptr.astype(np.int64, copy=False)


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
    """Every node reachable from ``sources`` along ``csr`` (sources included), sorted int64.

    Level-synchronous BFS over whole frontiers; cycles are harmless because a
    node joins at most once.  The visit mask (0 unseen, 1 visited, 2 found this
    level) is pooled and reset by what was visited, so a small closure costs
    nothing in ``n``; large levels are deduplicated and the result listed by
    scanning the mask, since sorting (and np.unique's hashing) is far slower.
    """
    frontier = np.array(sources, dtype=np.int64).ravel()
    if frontier.size > 1:
        frontier = sets.distinct(frontier)
    reached = _neighbours(csr, frontier)
    if not reached.size:           # nothing hangs off the sources (a leaf)
        return frontier
    seen = _visit_mask(csr, n)
    levels, count = [frontier], frontier.size
    seen[frontier] = 1
    while True:
        fresh = _where(seen[reached] == 0, reached)
        if not fresh.size:
            break
        frontier = _distinct(fresh, seen, n)
        seen[frontier] = 1
        levels.append(frontier)
        count += frontier.size
        reached = _neighbours(csr, frontier)
    if count > n >> 6:             # large: one scan of the mask beats merging the levels
        out = np.flatnonzero(seen.view(np.bool_))
        seen.fill(0)
    else:
        out = np.concatenate(levels)
        out.sort()
        seen[out] = 0
    if len(csr._scratch) < 4:
        csr._scratch.append(seen)
    return out


def _visit_mask(csr: CSR, n: int) -> np.ndarray:
    """A zeroed mask from the pool, or a new one when none is free."""
    try:
        seen = csr._scratch.pop()
    except IndexError:
        return np.zeros(n, dtype=np.uint8)
    return seen if seen.size == n else np.zeros(n, dtype=np.uint8)


def _neighbours(csr: CSR, frontier: np.ndarray) -> np.ndarray:
    """Concatenated rows of ``frontier``, with repeats (int64 when large: faster to index with)."""
    if frontier.size == 1:
        return csr.row(frontier[0])
    starts, ends = csr.indptr[frontier], csr.indptr[1:][frontier]
    if frontier.size < 1024:                  # few rows: the fewest NumPy calls win
        starts = starts.astype(np.int64)
        lens = ends - starts
        shift = np.repeat(starts - (np.cumsum(lens) - lens), lens)
        return csr.indices[shift + np.arange(shift.size)]
    keep = ends > starts
    if not keep.all():                        # most of a large frontier is leaves
        starts, ends = _where(keep, starts), _where(keep, ends)
        if not starts.size:
            return csr.indices[:0]
    starts, ends = starts.astype(np.int64), ends.astype(np.int64)
    # edge positions: +1 inside a row, a jump to the next row's start between rows
    bounds = np.cumsum(ends - starts)
    pos = np.ones(int(bounds[-1]), dtype=np.int64)
    pos[0] = starts[0]
    pos[bounds[:-1]] = starts[1:] - ends[:-1] + 1
    out = csr.indices[np.cumsum(pos, out=pos)]
    return out.astype(np.int64) if out.size > 4096 else out


def _distinct(nodes: np.ndarray, seen: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct ``nodes`` (none visited yet): large sets through the mask, small by sorting."""
    if nodes.size > n >> 8:
        seen[nodes] = 2
        return np.flatnonzero(seen == 2)
    return sets.distinct(nodes)


def _where(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values[mask]``; np.compress is several times faster on large, irregular masks."""
    return values[mask] if values.size < 4096 else np.compress(mask, values)


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
    if key == "alias_prefix":                    # ids of imported fleets use the alias form too
        lo, hi = fleet.aliases.prefix_range(str(value))
        id_lo, id_hi = fleet.ids.prefix_range(str(value))
        return np.isin(idx, fleet.alias_target[lo:hi]) | ((idx >= id_lo) & (idx < id_hi))
    raise KeyError(key)


SELECTOR_FIELDS = frozenset(CATEGORICAL) | {"tags", "id", "stateful", "alias_prefix"}
