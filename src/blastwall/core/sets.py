"""Set operations on sorted, unique index arrays over 0..n-1.

NumPy's union1d/setdiff1d hash or sort their whole input; for large sets a
boolean mask over the fleet is cheaper, for small ones a merge is.
"""
from __future__ import annotations

import numpy as np

_MASK_FRACTION = 64     # above n / 64 elements a mask over the fleet beats a merge


def union(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    if not a.size:
        return b
    if not b.size:
        return a
    if a.size + b.size > n // _MASK_FRACTION:
        mask = np.zeros(n, dtype=bool)
        mask[a] = True
        mask[b] = True
        return np.flatnonzero(mask)
    return distinct(np.concatenate((a, b)))


def distinct(a: np.ndarray) -> np.ndarray:
    """``a`` sorted, each value once (np.unique hashes, which is slower for these)."""
    if a.size < 2:
        return a
    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


def difference(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    if not a.size or not b.size:
        return a
    if a.size + b.size > n // _MASK_FRACTION:
        drop = np.zeros(n, dtype=bool)
        drop[b] = True
        return a[~drop[a]]
    return a[~np.isin(a, b, assume_unique=True)]
