"""Validation of inventory resource records (plain dicts), naming the line or field at fault."""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Callable, Sequence

from blastwall.core.model import MAX_COST_PER_MONTH
from blastwall.errors import InventoryError

STRING_FIELDS = ("env", "region", "cell", "owner", "parent")
KNOWN_FIELDS = frozenset({"id", "kind", *STRING_FIELDS, "depends_on", "customers",
                          "cost_per_month", "stateful", "tags", "aliases"})

LineOf = Callable[[int], "int | None"]


def validate_records(records: Sequence[Any], source: str, line_of: LineOf) -> None:
    """Raise InventoryError at the first malformed record."""
    for i, rec in enumerate(records):
        _validate_one(rec, i, source, line_of(i))


def _validate_one(rec: Any, i: int, source: str, line: int | None) -> None:
    def fail(msg: str, fld: str) -> None:
        raise InventoryError(msg, source=source, line=line, field=f"resources[{i}].{fld}")

    if not isinstance(rec, Mapping):
        raise InventoryError("a resource must be an object", source=source, line=line,
                             field=f"resources[{i}]")
    for key in ("id", "kind"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            fail(f"'{key}' is required and must be a non-empty string", key)
    if any(ch.isspace() for ch in rec["id"]) or not rec["id"].isprintable():
        fail(f"id {rec['id']!r} contains whitespace or control characters", "id")
    for key in STRING_FIELDS:
        if key in rec and rec[key] is not None and not isinstance(rec[key], str):
            fail(f"'{key}' must be a string, got {type(rec[key]).__name__}", key)
    for key in ("depends_on", "aliases"):
        val = rec.get(key)
        if val is not None and (not isinstance(val, list) or not all(isinstance(v, str) and v for v in val)):
            fail(f"'{key}' must be a list of non-empty strings", key)
    _check_numbers(rec, fail)
    tags = rec.get("tags")
    if tags is not None and (not isinstance(tags, Mapping)
                             or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())):
        fail("'tags' must be a map of strings to strings", "tags")
    _check_unknown_fields(rec, fail)


def _check_numbers(rec: Mapping, fail) -> None:
    cust = rec.get("customers")
    if cust is not None and (isinstance(cust, bool) or not isinstance(cust, int) or cust < 0):
        fail("'customers' must be a non-negative integer", "customers")
    cost = rec.get("cost_per_month")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))
                             or cost != cost or not -MAX_COST_PER_MONTH <= cost <= MAX_COST_PER_MONTH):
        fail(f"'cost_per_month' must be a number from {-MAX_COST_PER_MONTH:g} to {MAX_COST_PER_MONTH:g}",
             "cost_per_month")
    st = rec.get("stateful")
    if st is not None and not isinstance(st, bool):
        fail("'stateful' must be true or false", "stateful")


def _check_unknown_fields(rec: Mapping, fail) -> None:
    """A near-miss of a known field (``depend_on``) would silently shrink the blast radius."""
    for key in rec:
        if key in KNOWN_FIELDS or not isinstance(key, str):
            continue
        close = difflib.get_close_matches(key, KNOWN_FIELDS, n=1, cutoff=0.75)
        if close:
            fail(f"unknown field '{key}'; did you mean '{close[0]}'?", key)
