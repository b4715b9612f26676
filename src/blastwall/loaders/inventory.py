"""Load an inventory file (YAML, JSON, JSONL or snapshot) into a Fleet."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from blastwall.core.model import MAX_COST_PER_MONTH
from blastwall.core.graph import Fleet
from blastwall.errors import InventoryError
from blastwall.loaders.build import build_fleet
from blastwall.loaders.records import KNOWN_FIELDS, validate_records
from blastwall.loaders.yamlsafe import load_yaml_with_lines

MAX_DOCUMENT_BYTES = 256 * 2**20      # YAML / JSON are parsed in Python: use JSONL beyond this
SCHEMA = pa.schema([
    ("id", pa.string()), ("kind", pa.string()), ("env", pa.string()), ("region", pa.string()),
    ("cell", pa.string()), ("owner", pa.string()), ("parent", pa.string()),
    ("depends_on", pa.list_(pa.string())), ("aliases", pa.list_(pa.string())),
    ("customers", pa.int64()), ("cost_per_month", pa.float64()), ("stateful", pa.bool_()),
    ("tags", pa.map_(pa.string(), pa.string())),
])


def load_inventory(path: str | Path) -> Fleet:
    path = Path(path)
    if not path.is_file():
        raise InventoryError("no such inventory file", source=str(path))
    suffix = path.suffix.lower()
    if suffix == ".bwsnap":
        from blastwall.loaders.snapshot import load_snapshot
        return load_snapshot(path)
    revision = file_revision(path)
    if suffix == ".jsonl":
        return _load_jsonl(path, revision)
    if suffix in (".yaml", ".yml", ".json"):
        return _load_document(path, revision)
    raise InventoryError(f"unknown inventory format '{suffix}' (use .yaml, .json, .jsonl or .bwsnap)",
                         source=str(path))


def file_revision(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


def fleet_from_records(records: list[dict], source: str = "<records>", revision: str = "",
                       line_of=lambda i: None) -> Fleet:
    """Validate plain resource dicts and build the Fleet (also used by importers and tests)."""
    validate_records(records, source, line_of)
    rows = [{k: r.get(k) for k in SCHEMA.names} for r in records]
    for row in rows:
        row["tags"] = list(row["tags"].items()) if row["tags"] else None
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    return build_fleet(table, source, line_of, revision or _records_revision(records))


def _records_revision(records: list[dict]) -> str:
    canon = json.dumps(records, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canon).hexdigest()[:16]


def _load_document(path: Path, revision: str) -> Fleet:
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise InventoryError(f"file larger than {MAX_DOCUMENT_BYTES >> 20} MiB; use JSONL for large fleets",
                             source=str(path))
    text = _read_text(path)
    if path.suffix.lower() == ".json":
        doc, line_of = _parse_json(text, str(path))
    else:
        doc, lines = load_yaml_with_lines(text, str(path), list_key="resources", error=InventoryError)
        line_of = lambda i: lines[i] if i < len(lines) else None  # noqa: E731
    resources = _unwrap(doc, str(path))
    return fleet_from_records(resources, str(path), revision, line_of)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"not UTF-8 text (byte {exc.start})", source=str(path)) from None


def _parse_json(text: str, source: str):
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"invalid JSON: {exc.msg}", source=source, line=exc.lineno) from None
    except RecursionError:
        raise InventoryError("JSON nested too deeply", source=source) from None
    return doc, _json_line_finder(text, doc)


def _json_line_finder(text: str, doc: Any):
    """Line of resources[i] in a JSON text, found by its id (best effort)."""
    def line_of(i: int) -> int | None:
        try:
            rid = doc["resources"][i]["id"]
            m = re.search(r'"id"\s*:\s*' + re.escape(json.dumps(rid)), text)
        except (KeyError, IndexError, TypeError):
            return None
        return text.count("\n", 0, m.start()) + 1 if m else None
    return line_of


def _unwrap(doc: Any, source: str) -> list:
    if not isinstance(doc, dict):
        raise InventoryError("an inventory must be an object with 'version' and 'resources'", source=source)
    if doc.get("version") != 1:
        raise InventoryError(f"unsupported version {doc.get('version')!r} (expected 1)",
                             source=source, field="version")
    resources = doc.get("resources")
    if not isinstance(resources, list):
        raise InventoryError("'resources' must be a list", source=source, field="resources")
    return resources


def _load_jsonl(path: Path, revision: str) -> Fleet:
    """Fast path: Arrow's vectorised reader; any doubt falls back to line-by-line validation."""
    try:
        table = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=4 << 20),
                                 parse_options=_JSONL_PARSE)
        table = _conform(table)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, _Doubt):
        return _load_jsonl_slow(path, revision)
    try:
        fleet = build_fleet(table, str(path), lambda i: i + 1, revision)
    except InventoryError:
        return _load_jsonl_slow(path, revision)     # Arrow skips blank lines: redo for the exact line
    del table
    pa.default_memory_pool().release_unused()       # return the parse buffers to the OS
    return fleet


# Known fields typed up front (no inference; a wrong type fails fast into the slow path);
# tags are inferred, their keys being the inventory's own.
_JSONL_PARSE = pajson.ParseOptions(newlines_in_values=False, unexpected_field_behavior="infer",
                                   explicit_schema=pa.schema([f for f in SCHEMA if f.name != "tags"]))


class _Doubt(Exception):
    """The fast path's table is not plainly valid: validate line by line for a precise error."""


def _conform(table: pa.Table) -> pa.Table:
    if not set(table.column_names) <= KNOWN_FIELDS or "id" not in table.column_names:
        raise _Doubt
    import pyarrow.compute as pc
    ids = table.column("id")
    if not pa.types.is_string(ids.type) or ids.null_count or \
            pc.any(pc.match_substring_regex(ids, r"\s|^$")).as_py():
        raise _Doubt
    kind = table.column("kind") if "kind" in table.column_names else None
    if kind is None or not pa.types.is_string(kind.type) or kind.null_count:
        raise _Doubt
    if "tags" in table.column_names:
        tags = table.column("tags").type
        if not (pa.types.is_null(tags) or (pa.types.is_struct(tags) and all(
                pa.types.is_string(f.type) or pa.types.is_null(f.type) for f in tags))):
            raise _Doubt
    cols = {}
    for name in table.column_names:
        want = SCHEMA.field(name).type
        col = table.column(name)
        if name == "tags" or col.type == want:
            cols[name] = col
        elif pa.types.is_null(col.type) or (name == "cost_per_month" and pa.types.is_integer(col.type)):
            cols[name] = col.cast(want)
        else:
            raise _Doubt
    out = pa.table(cols)
    if "customers" in cols and pc.any(pc.less(cols["customers"], 0)).as_py():
        raise _Doubt
    if "cost_per_month" in cols and pc.all(pc.less_equal(pc.abs(cols["cost_per_month"]),
                                                         MAX_COST_PER_MONTH)).as_py() is False:
        raise _Doubt                                 # out of range or NaN: the record loader says where
    return out


def _load_jsonl_slow(path: Path, revision: str) -> Fleet:
    records, lines = [], []
    with path.open("r", encoding="utf-8", errors="strict") as fh:
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InventoryError(f"invalid JSON: {exc.msg}", source=str(path), line=lineno) from None
                except RecursionError:
                    raise InventoryError("JSON nested too deeply", source=str(path), line=lineno) from None
                lines.append(lineno)
        except UnicodeDecodeError:
            raise InventoryError("not UTF-8 text", source=str(path), line=len(lines) + 1) from None
    return fleet_from_records(records, str(path), revision, lambda i: lines[i] if i < len(lines) else None)
