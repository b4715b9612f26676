"""Graph kernels on inputs big enough to take every path (large frontiers, mask scans, pooled masks)."""
from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blastwall.core.graph import CSR, Coded, closure


def _reference(n, src, dst, sources):
    adj = [[] for _ in range(n)]
    for a, b in zip(src.tolist(), dst.tolist()):
        adj[a].append(b)
    seen, queue = set(sources), deque(sources)
    while queue:
        for b in adj[queue.popleft()]:
            if b not in seen:
                seen.add(b)
                queue.append(b)
    return sorted(seen)


@pytest.mark.parametrize("seed", range(6))
def test_closure_matches_bfs_on_hub_heavy_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3000, 20000))
    m = int(n * rng.uniform(0.5, 5))
    src = rng.integers(0, n, m)
    src[: m // 4] = rng.integers(0, 8, m // 4)              # a few hubs with huge fan-out
    dst = rng.integers(0, n, m)
    csr = CSR.from_edges(src, dst, n)
    for _ in range(8):                                       # reuses the pooled visit mask
        k = int(rng.integers(1, 40))
        sources = rng.integers(0, n, k) if rng.random() < 0.5 else rng.integers(0, 8, k)
        got = closure(csr, sources, n)
        assert got.dtype == np.int64
        assert got.tolist() == _reference(n, src, dst, sources.tolist())


def test_rows_are_sorted_and_wide_indptr_works():
    src, dst = np.array([2, 0, 2, 2, 1]), np.array([1, 2, 0, 1, 0])
    csr = CSR.from_edges(src, dst, 3)
    assert csr.indptr.dtype == np.uint32
    assert [csr.row(i).tolist() for i in range(3)] == [[2], [0], [0, 1, 1]]
    wide = CSR(csr.indptr.astype(np.int64), csr.indices)    # snapshots may hold int64 row pointers
    assert closure(wide, np.array([1]), 3).tolist() == closure(csr, np.array([1]), 3).tolist() == [0, 1, 2]


def test_leaf_closure_is_a_fresh_array():
    csr = CSR.from_edges(np.array([0]), np.array([1]), 3)
    sources = np.array([2])
    out = closure(csr, sources, 3)
    assert out.tolist() == [2] and out is not sources


@pytest.mark.parametrize("vocab_size", [1, 5, 40, 300])
def test_coded_values_are_the_distinct_present_values(vocab_size):
    rng = np.random.default_rng(vocab_size)
    vocab = ("", *(f"v{i}" for i in range(vocab_size - 1)))
    codes = rng.integers(0, vocab_size, 5000).astype(np.uint8 if vocab_size <= 256 else np.uint16)
    column = Coded(codes, vocab)
    for size in (0, 10, 1000, 5000):
        idx = rng.choice(5000, size, replace=False)
        assert column.values(idx) == sorted({vocab[c] for c in codes[idx]} - {""})


index_sets = st.lists(st.integers(0, 299), max_size=120)


@given(index_sets, index_sets)
def test_set_operations_agree_with_python_sets_on_both_paths(a, b):
    """Small inputs take the merge path, large ones (over n / 64) the mask path; both must agree."""
    from blastwall.core import sets
    left, right = (np.array(sorted(set(x)), dtype=np.int64) for x in (a, b))
    for n in (300, 10**6):                         # a tiny fleet forces the mask, a huge one the merge
        assert sets.union(left, right, n).tolist() == sorted(set(a) | set(b))
        assert sets.difference(left, right, n).tolist() == sorted(set(a) - set(b))
    assert sets.distinct(np.array(a, dtype=np.int64)).tolist() == sorted(set(a))
