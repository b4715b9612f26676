"""Arrow table of resources -> Fleet (sorting, interning, reference checks, CSR)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from blastwall.core.graph import ABSENT, CATEGORICAL, CSR, Coded, Fleet
from blastwall.core.strings import StringTable
from blastwall.errors import InventoryError

DEFAULTS = {"kind": "", "env": "unknown", "region": "unknown", "cell": ABSENT, "owner": ABSENT}
LineOf = Callable[[int], "int | None"]


def build_fleet(table: pa.Table, source: str, line_of: LineOf, revision: str = "") -> Fleet:
    """Rows stay in file order; ``rank`` maps a row to its resource index (bytewise id order)."""
    ids = _string_column(table, "id")
    order = pc.sort_indices(ids).to_numpy()
    sorted_ids = ids.take(order)
    n = len(sorted_ids)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    sorted_line = lambda i: line_of(int(order[i]))  # noqa: E731  (line of resource i)
    _check_duplicates(sorted_ids, source, sorted_line)
    refs = _resolve_names(table, sorted_ids)
    deps_src, deps_dst = _edges(refs, "depends_on", rank, source, line_of)
    par_src, par_dst = _edges(refs, "parent", rank, source, line_of)
    aliases, alias_target = _aliases(refs, rank, source, sorted_line)
    dependents = CSR.from_edges(np.concatenate([deps_dst, par_dst]),
                                np.concatenate([deps_src, par_src]), n)
    return Fleet(
        ids=_string_table(sorted_ids),
        aliases=aliases, alias_target=alias_target,
        columns={name: _coded(table, name, order) for name in CATEGORICAL},
        tags=_tag_columns(table, order),
        customers=_numbers(table, "customers", np.int64, 0, order),
        cost=_numbers(table, "cost_per_month", np.float64, 0.0, order),
        stateful=_numbers(table, "stateful", np.bool_, False, order),
        dependents=dependents,
        children=CSR.from_edges(par_dst, par_src, n),
        revision=revision,
    )


def _string_column(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks().cast(pa.string())


def _string_table(arr: pa.Array) -> StringTable:
    arr = arr.cast(pa.large_string())
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    if data is None or not len(arr):
        return StringTable(b"", np.zeros(len(arr) + 1, np.int64))
    return StringTable(bytes(memoryview(data)[offs[0]:offs[-1]]), offs - offs[0])


def _check_duplicates(sorted_ids: pa.Array, source: str, row_line: LineOf) -> None:
    if len(sorted_ids) < 2:
        return
    same = pc.equal(sorted_ids.slice(1), sorted_ids.slice(0, len(sorted_ids) - 1)).to_numpy(zero_copy_only=False)
    dup = np.flatnonzero(same)
    if dup.size:
        i = int(dup[0])
        raise InventoryError(
            f"duplicate id '{sorted_ids[i].as_py()}' (also at line {row_line(i)})",
            source=source, line=row_line(i + 1), field="id")


REFERENCE_FIELDS = ("depends_on", "parent", "aliases")


def _resolve_names(table: pa.Table, sorted_ids: pa.Array) -> dict[str, tuple[pa.Array, np.ndarray, np.ndarray]]:
    """For each reference field: (names, row holding each name, resource index of the name or -1).

    All names go through one hash lookup: building the id hash table is the costly part.
    """
    parts = {}
    for name in REFERENCE_FIELDS:
        if name not in table.column_names:
            continue
        col = table.column(name).combine_chunks()
        if name == "parent":
            rows = np.flatnonzero(col.is_valid().to_numpy(zero_copy_only=False))
            names = col.drop_null()
        else:
            rows = pc.list_parent_indices(col).to_numpy(zero_copy_only=False).astype(np.int64)
            names = pc.list_flatten(col)
        parts[name] = (names.cast(pa.string()), rows)
    if not parts:
        return {}
    every_name = pa.chunked_array([names for names, _ in parts.values()], pa.string())
    found = pc.index_in(every_name, value_set=sorted_ids).fill_null(-1).to_numpy().astype(np.int64)
    out, at = {}, 0
    for name, (names, rows) in parts.items():
        out[name] = (names, rows, found[at:at + len(names)])
        at += len(names)
    return out


def _edges(refs, name: str, rank: np.ndarray, source: str, line_of: LineOf) -> tuple[np.ndarray, np.ndarray]:
    """(resource, referenced resource) pairs of ``name``; unknown ids are errors."""
    if name not in refs:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    names, rows, found = refs[name]
    missing = np.flatnonzero(found < 0)
    if missing.size:
        k = int(missing[0])
        more = f" ({missing.size} dangling in all)" if name == "depends_on" else ""
        raise InventoryError(f"'{name}' names unknown resource '{names[k].as_py()}'{more}",
                             source=source, line=line_of(int(rows[k])), field=name)
    return rank[rows], found


def _aliases(refs, rank: np.ndarray, source: str, sorted_line: LineOf) -> tuple[StringTable, np.ndarray]:
    if "aliases" not in refs:
        return StringTable(b"", np.zeros(1, np.int64)), np.empty(0, np.int32)
    flat, rows, same_as_id = refs["aliases"]
    owner = rank[rows]
    clash = np.flatnonzero((same_as_id >= 0) & (same_as_id != owner))
    if clash.size:
        k = int(clash[0])
        raise InventoryError(f"alias '{flat[k].as_py()}' is the id of another resource",
                             source=source, line=sorted_line(int(owner[k])), field="aliases")
    keep = same_as_id < 0                       # an alias equal to its own id is redundant
    flat, owner = flat.filter(pa.array(keep)), owner[keep]
    order = pc.sort_indices(flat).to_numpy()
    flat, owner = flat.take(order), owner[order]
    if len(flat) > 1:
        same = pc.equal(flat.slice(1), flat.slice(0, len(flat) - 1)).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(same & (owner[1:] != owner[:-1]))
        if bad.size:
            k = int(bad[0])
            raise InventoryError(f"alias '{flat[k].as_py()}' names two resources "
                                 f"(lines {sorted_line(int(owner[k]))} and {sorted_line(int(owner[k + 1]))})",
                                 source=source, line=sorted_line(int(owner[k + 1])), field="aliases")
        first = np.concatenate([[True], ~same])
        flat, owner = flat.filter(pa.array(first)), owner[first]
    return _string_table(flat), owner.astype(np.int32)


def _coded(table: pa.Table, name: str, order: np.ndarray) -> Coded:
    if name not in table.column_names:
        return Coded(np.zeros(len(order), np.uint8), (DEFAULTS[name],))
    col = table.column(name).combine_chunks().cast(pa.string()).fill_null(DEFAULTS[name])
    return _encode(col, order)


def _encode(col: pa.Array, order: np.ndarray) -> Coded:
    """Codes into a sorted vocabulary, in resource order (``order``: the row of each resource)."""
    enc = pc.dictionary_encode(col)
    found = enc.dictionary.to_pylist()
    vocab = tuple(sorted(found))                # independent of the file's row order
    dtype = np.uint8 if len(vocab) <= 2**8 else np.uint16 if len(vocab) <= 2**16 else np.uint32
    rank = {v: i for i, v in enumerate(vocab)}
    recode = np.array([rank[v] for v in found], dtype=dtype)
    return Coded(recode[enc.indices.to_numpy(zero_copy_only=False)][order], vocab)


def _tag_columns(table: pa.Table, order: np.ndarray) -> dict[str, Coded]:
    if "tags" not in table.column_names:
        return {}
    col = table.column("tags").combine_chunks()
    if pa.types.is_struct(col.type):
        return {name: _encode(col.field(name).cast(pa.string()).fill_null(ABSENT), order)
                for name in sorted(f.name for f in col.type)}
    keys = col.keys.to_pylist()                 # a map: fleet_from_records, small inputs
    vals = col.items.to_pylist()
    offsets = col.offsets.to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(col)), np.diff(offsets))
    out: dict[str, list] = {}
    for row, k, v in zip(rows, keys, vals):
        out.setdefault(k, [ABSENT] * len(col))[row] = v
    return {k: _encode(pa.array(v, pa.string()), order) for k, v in sorted(out.items())}


def _numbers(table: pa.Table, name: str, dtype, default, order: np.ndarray) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=dtype)
    col = table.column(name).combine_chunks().fill_null(default)
    return col.to_numpy(zero_copy_only=False).astype(dtype, copy=False)[order]
