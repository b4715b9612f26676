"""Proposal documents (contract section 2) -> Proposal, interpreting artifacts on the way."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from blastwall.core.graph import SELECTOR_FIELDS
from blastwall.core.interpret import FileReader, interpret_argv, interpret_plan, interpret_shell
from blastwall.core.model import MAX_COST_PER_MONTH, Operation, Proposal, Verb
from blastwall.errors import ProposalError

MAX_INTENT = 64 * 1024
MAX_OPERATIONS = 10_000
MAX_COMMAND = 100_000
ARTIFACTS = ("argv", "command", "terraform_plan")
KEYS = {"agent", "operator", "intent", "operations", *ARTIFACTS}
OP_KEYS = {"verb", "target", "selector", "cost_per_month"}
WHITESPACE = re.compile(r"\s")       # a str pattern's \s is exactly str.isspace()


def parse_proposal(doc: Any, files: FileReader | None = None) -> Proposal:
    if not isinstance(doc, Mapping):
        raise ProposalError("a proposal must be a JSON object")
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise ProposalError(f"unknown field '{unknown[0]}'", field=unknown[0])
    agent = _text(doc, "agent", required=True)
    operator = _text(doc, "operator")
    intent = _text(doc, "intent", limit=MAX_INTENT)
    ops = [_operation(raw, f"operations[{i}]") for i, raw in enumerate(_op_list(doc))]
    artifacts = [k for k in ARTIFACTS if k in doc]
    if len(artifacts) > 1:
        raise ProposalError(f"at most one artifact, got {', '.join(artifacts)}", field=artifacts[1])
    source = artifacts[0] if artifacts else "operations"
    if artifacts:
        ops += interpret_artifact(source, doc[source], files)
    if not ops and not artifacts:
        raise ProposalError("a proposal needs 'operations' or an artifact (argv, command, terraform_plan)",
                            field="operations")
    exact = exact_artifact(source, doc[source]) if artifacts else ""
    return Proposal(agent, operator, intent, tuple(ops), source, exact)


def exact_artifact(kind: str, value: Any) -> str:
    """The artifact as given, as text: what approvals bind to besides the operations read from it,
    so that a command differing only where blastwall reads nothing (a flag's value, a replica
    count, quoting) is another command.  A plan is bound by its canonical JSON's SHA-256."""
    if kind == "command":
        return value
    if kind == "argv":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    canon = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


def interpret_artifact(kind: str, value: Any, files: FileReader | None = None) -> list[Operation]:
    if kind == "argv":
        if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
            raise ProposalError("'argv' must be a non-empty list of strings", field="argv")
        return interpret_argv(value, files)
    if kind == "command":
        if not isinstance(value, str):
            raise ProposalError("'command' must be a string", field="command")
        if len(value) > MAX_COMMAND:
            raise ProposalError(f"'command' is longer than {MAX_COMMAND} characters", field="command")
        return interpret_shell(value, files)
    if not isinstance(value, Mapping):
        raise ProposalError("'terraform_plan' must be the JSON object of terraform show -json",
                            field="terraform_plan")
    return interpret_plan(value)


def _text(doc: Mapping, key: str, required: bool = False, limit: int = 256) -> str:
    value = doc.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ProposalError(f"'{key}' must be a{' non-empty' if required else ''} string", field=key)
    if len(value) > limit:
        raise ProposalError(f"'{key}' is longer than {limit} characters", field=key)
    if "\x00" in value:
        raise ProposalError(f"'{key}' contains a NUL character", field=key)
    if key != "intent" and not value.isprintable():
        raise ProposalError(f"'{key}' contains control characters", field=key)
    return value


def _op_list(doc: Mapping) -> list:
    ops = doc.get("operations", [])
    if not isinstance(ops, list):
        raise ProposalError("'operations' must be a list", field="operations")
    if len(ops) > MAX_OPERATIONS:
        raise ProposalError(f"more than {MAX_OPERATIONS} operations", field="operations")
    return ops


def _operation(raw: Any, where: str) -> Operation:
    if not isinstance(raw, Mapping):
        raise ProposalError("an operation must be an object", field=where)
    extra = sorted(set(raw) - OP_KEYS)
    if extra:
        raise ProposalError(f"unknown field '{extra[0]}'", field=f"{where}.{extra[0]}")
    try:
        verb = Verb(raw.get("verb"))
    except ValueError:
        raise ProposalError(f"verb must be one of {', '.join(v.value for v in Verb)}, not {raw.get('verb')!r}",
                            field=f"{where}.verb") from None
    has_target, has_selector = "target" in raw, "selector" in raw
    if has_target == has_selector:
        raise ProposalError("name exactly one of 'target' or 'selector'", field=where)
    cost = raw.get("cost_per_month", 0.0)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost != cost:
        raise ProposalError("'cost_per_month' must be a number", field=f"{where}.cost_per_month")
    if not 0 <= cost <= MAX_COST_PER_MONTH:
        # negative: it would offset another's cost under the caps; huge: sums overflow to infinity
        raise ProposalError(f"'cost_per_month' is what the change adds each month: from 0 to {MAX_COST_PER_MONTH:g} "
                            "(savings come from deleting resources the inventory prices)",
                            field=f"{where}.cost_per_month")
    if has_target:
        return Operation(verb, target=_target(raw["target"], f"{where}.target"), cost_per_month=float(cost))
    return Operation(verb, selector=_selector(raw["selector"], f"{where}.selector"), cost_per_month=float(cost))


def _target(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise ProposalError("'target' must be a non-empty string (at most 1024 characters)", field=where)
    if not value.isprintable() or WHITESPACE.search(value):
        raise ProposalError("'target' contains whitespace or control characters", field=where)
    return value


def _selector(value: Any, where: str) -> dict:
    if not isinstance(value, Mapping) or not value:
        raise ProposalError("'selector' must be a non-empty object of fields", field=where)
    for key, val in value.items():
        if key not in SELECTOR_FIELDS - {"alias_prefix"}:
            raise ProposalError(f"unknown selector field '{key}'", field=f"{where}.{key}")
        if key == "tags":
            if not isinstance(val, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                       for k, v in val.items()):
                raise ProposalError("'tags' must map strings to strings", field=f"{where}.tags")
        elif key == "stateful":
            if not isinstance(val, bool):
                raise ProposalError("'stateful' must be true or false", field=f"{where}.stateful")
        elif not isinstance(val, str):
            raise ProposalError(f"'{key}' must be a string", field=f"{where}.{key}")
    return dict(value)
