"""A single-file, memory-mapped snapshot of a Fleet (.bwsnap) for sub-second reloads.

Layout: 8-byte magic, 8-byte header length, a JSON header (array names, dtypes,
shapes, offsets, vocabularies, revision), then each array's raw bytes, 64-byte
aligned.  Loading maps the file and views the arrays in place: nothing is copied.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from blastwall.core.graph import CSR, Coded, Fleet
from blastwall.core.strings import StringTable
from blastwall.errors import InventoryError

MAGIC = b"BWSNAP01"
ALIGN = 64


def _arrays(fleet: Fleet) -> dict[str, np.ndarray]:
    arrays = {
        "ids.blob": np.frombuffer(bytes(fleet.ids.blob), np.uint8), "ids.offsets": fleet.ids.offsets,
        "aliases.blob": np.frombuffer(bytes(fleet.aliases.blob), np.uint8),
        "aliases.offsets": fleet.aliases.offsets, "alias_target": fleet.alias_target,
        "customers": fleet.customers, "cost": fleet.cost, "stateful": fleet.stateful,
        "dependents.indptr": fleet.dependents.indptr, "dependents.indices": fleet.dependents.indices,
        "children.indptr": fleet.children.indptr, "children.indices": fleet.children.indices,
    }
    arrays.update({f"col.{k}": c.codes for k, c in fleet.columns.items()})
    arrays.update({f"tag.{k}": c.codes for k, c in fleet.tags.items()})
    return arrays


def save_snapshot(fleet: Fleet, path: Path) -> None:
    arrays = _arrays(fleet)
    entries, offset = {}, 0
    for name, arr in arrays.items():
        offset = -(-offset // ALIGN) * ALIGN
        entries[name] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset}
        offset += arr.nbytes
    header = json.dumps({
        "arrays": entries, "revision": fleet.revision,
        "vocab": {k: list(c.vocab) for k, c in fleet.columns.items()},
        "tags": {k: list(c.vocab) for k, c in fleet.tags.items()},
    }).encode()
    start = -(-(16 + len(header)) // ALIGN) * ALIGN
    with path.open("wb") as fh:
        fh.write(MAGIC + len(header).to_bytes(8, "little") + header)
        for name, arr in arrays.items():
            fh.seek(start + entries[name]["offset"])
            fh.write(np.ascontiguousarray(arr).tobytes())


def load_snapshot(path: Path) -> Fleet:
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    if raw.size < 16 or bytes(raw[:8]) != MAGIC:
        raise InventoryError("not a blastwall snapshot (bad magic)", source=str(path))
    hlen = int.from_bytes(bytes(raw[8:16]), "little")
    try:
        header = json.loads(bytes(raw[16:16 + hlen]))
    except (ValueError, UnicodeDecodeError):
        raise InventoryError("corrupt snapshot header", source=str(path)) from None
    start = -(-(16 + hlen) // ALIGN) * ALIGN
    arr = {name: _view(raw, start, e, path, name) for name, e in header["arrays"].items()}
    return Fleet(
        ids=StringTable(memoryview(arr["ids.blob"]), arr["ids.offsets"]),
        aliases=StringTable(memoryview(arr["aliases.blob"]), arr["aliases.offsets"]),
        alias_target=arr["alias_target"],
        columns={k: Coded(arr[f"col.{k}"], tuple(v)) for k, v in header["vocab"].items()},
        tags={k: Coded(arr[f"tag.{k}"], tuple(v)) for k, v in header["tags"].items()},
        customers=arr["customers"], cost=arr["cost"], stateful=arr["stateful"],
        dependents=CSR(arr["dependents.indptr"], arr["dependents.indices"]),
        children=CSR(arr["children.indptr"], arr["children.indices"]),
        revision=header["revision"],
    )


def _view(raw: np.ndarray, start: int, entry: dict, path: Path, name: str) -> np.ndarray:
    dtype = np.dtype(entry["dtype"])
    count = int(np.prod(entry["shape"])) if entry["shape"] else 1
    lo = start + entry["offset"]
    hi = lo + count * dtype.itemsize
    if hi > raw.size:
        raise InventoryError(f"snapshot truncated in array '{name}'", source=str(path))
    # a plain ndarray view of the mapping: np.memmap's subclass hooks cost ~60 µs per indexing
    return raw[lo:hi].view(np.ndarray).view(dtype).reshape(entry["shape"])
