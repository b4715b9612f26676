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
    ids = _string_column(table, "id")
    order = pc.sort_indices(ids).to_numpy()
    table = table.take(order)
    sorted_ids = table.column("id").combine_chunks()
    n = len(sorted_ids)
    row_line = lambda i: line_of(int(order[i]))  # noqa: E731  (line of sorted row i)
    _check_duplicates(sorted_ids, source, row_line)
    deps_src, deps_dst = _references(table, "depends_on", sorted_ids, source, row_line)
    par_src, par_dst = _parents(table, sorted_ids, source, row_line)
    aliases, alias_target = _aliases(table, sorted_ids, source, row_line)
    dependents = CSR.from_edges(np.concatenate([deps_dst, par_dst]),
                                np.concatenate([deps_src, par_src]), n)
    return Fleet(
        ids=_string_table(sorted_ids),
        aliases=aliases, alias_target=alias_target,
        columns={name: _coded(table, name) for name in CATEGORICAL},
        tags=_tag_columns(table, n),
        customers=_numbers(table, "customers", np.int64, 0),
        cost=_numbers(table, "cost_per_month", np.float64, 0.0),
        stateful=_numbers(table, "stateful", np.bool_, False),
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
    blob = bytes(data) if data is not None else b""
    return StringTable(blob, (offs - offs[0]).copy() if len(offs) else np.zeros(1, np.int64))


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


def _references(table: pa.Table, name: str, sorted_ids: pa.Array, source: str,
                row_line: LineOf) -> tuple[np.ndarray, np.ndarray]:
    """(src, dst) index pairs for list column ``name``; unknown ids are errors."""
    if name not in table.column_names:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    col = table.column(name).combine_chunks()
    flat = pc.list_flatten(col)
    src = pc.list_parent_indices(col).to_numpy(zero_copy_only=False).astype(np.int64)
    dst = pc.index_in(flat, value_set=sorted_ids)
    missing = dst.is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise InventoryError(
            f"'{name}' names unknown resource '{flat[k].as_py()}' ({int(missing.sum())} dangling in all)",
            source=source, line=row_line(int(src[k])), field=name)
    return src, dst.to_numpy(zero_copy_only=False).astype(np.int64)


def _parents(table, sorted_ids, source, row_line) -> tuple[np.ndarray, np.ndarray]:
    if "parent" not in table.column_names:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    col = table.column("parent").combine_chunks()
    has = col.is_valid().to_numpy(zero_copy_only=False)
    src = np.flatnonzero(has)
    vals = col.filter(pa.array(has))
    dst = pc.index_in(vals, value_set=sorted_ids)
    missing = dst.is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise InventoryError(f"'parent' names unknown resource '{vals[k].as_py()}'",
                             source=source, line=row_line(int(src[k])), field="parent")
    return src.astype(np.int64), dst.to_numpy(zero_copy_only=False).astype(np.int64)


def _aliases(table, sorted_ids, source, row_line) -> tuple[StringTable, np.ndarray]:
    if "aliases" not in table.column_names:
        return StringTable(b"", np.zeros(1, np.int64)), np.empty(0, np.int32)
    col = table.column("aliases").combine_chunks()
    flat = pc.list_flatten(col)
    owner = pc.list_parent_indices(col).to_numpy(zero_copy_only=False).astype(np.int64)
    same_as_id = pc.index_in(flat, value_set=sorted_ids).to_numpy(zero_copy_only=False)
    clash = np.flatnonzero((~np.isnan(same_as_id)) & (same_as_id != owner))
    if clash.size:
        k = int(clash[0])
        raise InventoryError(f"alias '{flat[k].as_py()}' is the id of another resource",
                             source=source, line=row_line(int(owner[k])), field="aliases")
    keep = np.isnan(same_as_id)                 # an alias equal to its own id is redundant
    flat, owner = flat.filter(pa.array(keep)), owner[keep]
    order = pc.sort_indices(flat).to_numpy()
    flat, owner = flat.take(order), owner[order]
    if len(flat) > 1:
        same = pc.equal(flat.slice(1), flat.slice(0, len(flat) - 1)).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(same & (owner[1:] != owner[:-1]))
        if bad.size:
            k = int(bad[0])
            raise InventoryError(f"alias '{flat[k].as_py()}' names two resources "
                                 f"(lines {row_line(int(owner[k]))} and {row_line(int(owner[k + 1]))})",
                                 source=source, line=row_line(int(owner[k + 1])), field="aliases")
        first = np.concatenate([[True], ~same])
        flat, owner = flat.filter(pa.array(first)), owner[first]
    return _string_table(flat), owner.astype(np.int32)


def _coded(table: pa.Table, name: str) -> Coded:
    n = table.num_rows
    if name not in table.column_names:
        return Coded(np.zeros(n, np.uint8), (DEFAULTS[name],))
    col = table.column(name).combine_chunks().cast(pa.string()).fill_null(DEFAULTS[name])
    return _encode(col)


def _encode(col: pa.Array) -> Coded:
    enc = pc.dictionary_encode(col)
    vocab = tuple(enc.dictionary.to_pylist())
    dtype = np.uint8 if len(vocab) <= 2**8 else np.uint16 if len(vocab) <= 2**16 else np.uint32
    return Coded(enc.indices.to_numpy(zero_copy_only=False).astype(dtype), vocab)


def _tag_columns(table: pa.Table, n: int) -> dict[str, Coded]:
    if "tags" not in table.column_names:
        return {}
    col = table.column("tags").combine_chunks()
    if pa.types.is_struct(col.type):
        return {name: _encode(col.field(name).cast(pa.string()).fill_null(ABSENT))
                for name in sorted(f.name for f in col.type)}
    keys = col.keys.to_pylist()
    vals = col.items.to_pylist()
    offsets = col.offsets.to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(col)), np.diff(offsets))
    out: dict[str, list] = {}
    for row, k, v in zip(rows, keys, vals):
        out.setdefault(k, [ABSENT] * n)[row] = v
    return {k: _encode(pa.array(v, pa.string())) for k, v in sorted(out.items())}


def _numbers(table: pa.Table, name: str, dtype, default) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, default, dtype=dtype)
    col = table.column(name).combine_chunks().fill_null(default)
    return col.to_numpy(zero_copy_only=False).astype(dtype)
