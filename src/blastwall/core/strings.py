"""A sorted table of strings in one blob: lookup by binary search, no per-string objects."""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class StringTable:
    """``blob[offsets[i]:offsets[i+1]]`` is the UTF-8 of string i; strings are sorted bytewise."""
    blob: bytes | memoryview
    offsets: np.ndarray  # int64, n + 1
    _offs: memoryview = field(init=False, repr=False, compare=False)   # plain-int access for lookups

    def __post_init__(self) -> None:
        object.__setattr__(self, "_offs", memoryview(np.ascontiguousarray(self.offsets, dtype=np.int64)))

    @classmethod
    def from_sorted(cls, strings: list[str]) -> "StringTable":
        encoded = [s.encode() for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def raw(self, i: int) -> bytes:
        offs = self._offs
        return bytes(self.blob[offs[i]:offs[i + 1]])

    def __getitem__(self, i: int) -> str:
        return self.raw(i).decode()

    def find(self, s: str) -> int:
        """Index of ``s``, or -1."""
        key = s.encode()
        i = bisect_left(range(len(self)), key, key=self.raw)
        return i if i < len(self) and self.raw(i) == key else -1

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """[lo, hi) of the strings that start with ``prefix``."""
        key = prefix.encode()
        lo = bisect_left(range(len(self)), key, key=self.raw)
        hi = bisect_left(range(lo, len(self)), key + b"\xff", key=self.raw) + lo
        return lo, hi

    @property
    def nbytes(self) -> int:
        return len(self.blob) + self.offsets.nbytes
