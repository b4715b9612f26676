"""The policy input: typed facts every rule sees, declared once (the schema).

Rules are CEL expressions over these names.  The declarations give CEL its
types, so a misspelt fact or a type mismatch fails when the policy compiles,
and every activation is checked against them before any rule runs.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cel_expr_python import cel

STR_LIST = "list<string>"
FACTS: dict[str, str] = {
    "proposal.agent": "string", "proposal.operator": "string",
    "proposal.source": "string", "proposal.verbs": STR_LIST, "proposal.operations": "int",
    "proposal.opaque_commands": STR_LIST,
    "impact.targets": "int", "impact.unknown_targets": "int", "impact.unknown_destructive": "int",
    "impact.deleted": "int", "impact.degraded": "int", "impact.resources": "int",
    "impact.customers": "int", "impact.stateful_deleted": "int",
    "impact.cost_delta_per_month": "double", "impact.fleet_fraction": "double",
    "impact.environments": STR_LIST, "impact.regions": STR_LIST,
    "impact.destructive": "bool", "impact.destructive_environments": STR_LIST,
    "impact.destructive_production_regions": STR_LIST,
    "impact.production": "bool", "impact.production_regions": STR_LIST,
    "impact.production_stateful_deleted": "int", "impact.production_customers": "int",
    "impact.change_regions": STR_LIST,
    "fleet.size": "int", "fleet.regions": STR_LIST, "fleet.production_regions": STR_LIST,
    "context.kill_switch": "bool", "context.now": "timestamp",
    "context.frozen": STR_LIST, "context.closed_windows": STR_LIST,
}

_CEL_TYPES = {
    "string": cel.Type.STRING, "int": cel.Type.INT, "double": cel.Type.DOUBLE,
    "bool": cel.Type.BOOL, "timestamp": cel.Type.TIMESTAMP, STR_LIST: cel.Type.List(cel.Type.STRING),
}
_PY_TYPES = {"string": str, "int": int, "double": float, "bool": bool, "timestamp": datetime, STR_LIST: list}


def param_type(value: Any) -> str | None:
    """The fact type of a policy parameter value, or None if not a supported type."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return STR_LIST
    return None


def cel_variables(declared: Mapping[str, str]) -> dict[str, Any]:
    return {name: _CEL_TYPES[kind] for name, kind in declared.items()}


def check_activation(declared: Mapping[str, str], facts: Mapping[str, Any], groups: tuple | None = None) -> list[str]:
    """Problems with ``facts`` against the declarations: missing, extra or mistyped.
    ``groups``: ``fact_groups(declared)``, if already made."""
    if len(facts) == len(declared) and _exact(groups or fact_groups(declared), facts):
        return []                                       # the usual case, checked by exact types
    problems = [f"missing fact '{k}'" for k in declared if k not in facts]
    problems += [f"undeclared fact '{k}'" for k in facts if k not in declared]
    for name, kind in declared.items():
        if name in facts and not _is_type(facts[name], kind):
            problems.append(f"fact '{name}' should be {kind}, got {type(facts[name]).__name__}")
    return problems


def fact_groups(declared: Mapping[str, str]) -> tuple:
    """(kind, exact type, names) per declared kind: made once per policy, for check_activation."""
    return tuple((kind, _PY_TYPES[kind], tuple(n for n, k in declared.items() if k == kind))
                 for kind in sorted(set(declared.values())))


def _exact(groups: tuple, facts: Mapping[str, Any]) -> bool:
    """Every declared fact present with exactly its type (subclasses take the slow path)."""
    try:
        for kind, exact, names in groups:
            values = [facts[n] for n in names]
            if set(map(type, values)) - {exact}:
                return False
            if kind == STR_LIST and any(set(map(type, v)) - {str} for v in values):
                return False
            if kind == "timestamp" and any(v.tzinfo is None for v in values):
                return False
    except KeyError:
        return False
    return True


def _is_type(value: Any, kind: str) -> bool:
    if kind == "int" and isinstance(value, bool):
        return False
    if kind == STR_LIST:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "timestamp":
        return isinstance(value, datetime) and value.tzinfo is not None
    return isinstance(value, _PY_TYPES[kind])
