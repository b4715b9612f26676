"""Terraform plan JSON (``terraform show -json PLANFILE``) -> Operations.

Pure: the caller has already parsed the JSON.  Each ``resource_changes[]``
entry becomes at most one operation whose target is the entry's ``address``
(an inventory alias, contract section 1).  Whatever cannot be read with
certainty becomes ``opaque`` (exec on an unknown target); malformed input
raises ``ProposalError`` naming the field at fault.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blastwall.core.model import Operation, Verb, opaque
from blastwall.errors import ProposalError

ROOT = "terraform_plan"

# change.actions (as a tuple) -> verb; absent here and not no-op => opaque.
_VERB_FOR_ACTIONS: dict[tuple[str, ...], Verb] = {
    ("read",): Verb.READ,
    ("create",): Verb.CREATE,
    ("update",): Verb.UPDATE,
    ("delete",): Verb.DELETE,
    ("delete", "create"): Verb.REPLACE,
    ("create", "delete"): Verb.REPLACE,
    ("forget",): Verb.READ,          # dropped from state, the object itself is kept
}

# How each action set reads in an operation's note: (word, detail).
_WORDING: dict[tuple[str, ...], tuple[str, str]] = {
    ("read",): ("read", ""),
    ("create",): ("create", ""),
    ("update",): ("update", "in place"),
    ("delete",): ("delete", ""),
    ("delete", "create"): ("replace", "delete then create"),
    ("create", "delete"): ("replace", "create then delete"),
    ("forget",): ("forget", "removed from state, the object is kept"),
}

_NO_OP = ("no-op",)


def interpret_plan(plan: Mapping[str, Any]) -> list[Operation]:
    """The operations a Terraform plan would carry out, in plan order."""
    if not isinstance(plan, Mapping):
        raise ProposalError("a Terraform plan must be a JSON object", field=ROOT)
    _check_format_version(plan)
    operations = []
    for index, entry in enumerate(_resource_changes(plan)):
        operation = _operation_for_change(entry, f"{ROOT}.resource_changes[{index}]")
        if operation is not None:
            operations.append(operation)
    operations.extend(_action_invocations(plan))
    operations.extend(_provisioners(plan))
    if _errored(plan):
        operations.append(opaque("terraform plan errored: it is incomplete, "
                                 "its full effect cannot be known"))
    return operations


# -- top level ------------------------------------------------------------------

def _check_format_version(plan: Mapping[str, Any]) -> None:
    field = f"{ROOT}.format_version"
    version = plan.get("format_version")
    if not isinstance(version, str):
        raise ProposalError("missing or not a string; expected the output of "
                            "'terraform show -json PLANFILE'", field=field)
    if version.split(".")[0] != "1":
        raise ProposalError(f"unsupported plan format version {version!r} (major 1 expected)",
                            field=field)


def _resource_changes(plan: Mapping[str, Any]) -> list:
    field = f"{ROOT}.resource_changes"
    if "resource_changes" not in plan:
        # Terraform omits the key when a plan changes no resource at all; a
        # document without it and without planned_values is not a plan (a state?).
        if "planned_values" in plan:
            return []
        raise ProposalError("missing: this is not a plan (the JSON of a state?); "
                            "use 'terraform show -json PLANFILE'", field=field)
    changes = plan["resource_changes"]
    if not _is_list(changes):
        raise ProposalError("must be a list", field=field)
    return list(changes)


def _errored(plan: Mapping[str, Any]) -> bool:
    errored = plan.get("errored", False)
    if errored is None or isinstance(errored, bool):
        return bool(errored)
    raise ProposalError("must be true or false", field=f"{ROOT}.errored")


def _action_invocations(plan: Mapping[str, Any]) -> list[Operation]:
    """Terraform 1.14+ provider actions: side effects nobody can bound."""
    invocations = plan.get("action_invocations")
    if invocations is None:
        return []
    if not _is_list(invocations):
        raise ProposalError("must be a list", field=f"{ROOT}.action_invocations")
    operations = []
    for invocation in invocations:
        address = invocation.get("address") if isinstance(invocation, Mapping) else None
        label = address if isinstance(address, str) and address else "unnamed action"
        operations.append(opaque(f"terraform action invocation {label}"))
    return operations


# -- one resource change ------------------------------------------------------------

def _provisioners(plan: Mapping[str, Any]) -> list[Operation]:
    """Provisioners (local-exec, remote-exec, file) and `external` data sources run commands the
    plan's resource changes do not show: each is an opaque, destructive operation."""
    config = plan.get("configuration")
    found: list[Operation] = []
    module = config.get("root_module") if isinstance(config, Mapping) else None
    pending = [("", module)]
    while pending:
        prefix, module = pending.pop()
        if not isinstance(module, Mapping):
            continue
        for resource in module.get("resources") or ():
            if not isinstance(resource, Mapping):
                continue
            address = prefix + str(resource.get("address", "?"))
            kinds = sorted({str(p.get("type", "?")) for p in resource.get("provisioners") or () if isinstance(p, Mapping)})
            if resource.get("provisioners"):
                found.append(opaque(f"{address} runs {', '.join(kinds) or 'a'} provisioner(s)", destructive=True))
            if resource.get("mode") == "data" and resource.get("type") == "external":
                found.append(opaque(f"{address} runs an external program", destructive=True))
        for name, call in (module.get("module_calls") or {}).items() if isinstance(module.get("module_calls"), Mapping) else ():
            if isinstance(call, Mapping):
                pending.append((f"{prefix}module.{name}.", call.get("module")))
    return found


def _operation_for_change(entry: Any, field: str) -> Operation | None:
    if not isinstance(entry, Mapping):
        raise ProposalError("must be an object", field=field)
    address = _address(entry, field)
    actions = _actions(entry, field)
    mode = _mode(entry, field)
    if actions == _NO_OP:
        return None
    verb = _VERB_FOR_ACTIONS.get(actions)
    if verb is None:
        return opaque(f"terraform: unknown actions {list(actions)} on {address}")
    if mode not in ("managed", "data"):
        return opaque(f"terraform: unknown mode {mode!r} of {address}")
    if mode == "data" and verb != Verb.READ:
        return opaque(f"terraform: data source {address} cannot {'+'.join(actions)}")
    if mode == "data":                      # reading a data source touches nothing in the fleet
        return Operation(Verb.READ, note=_note(entry, actions, address))
    return Operation(verb, target=address, note=_note(entry, actions, address))


def _address(entry: Mapping[str, Any], field: str) -> str:
    address = entry.get("address")
    if not isinstance(address, str) or not address:
        raise ProposalError("missing or not a non-empty string", field=f"{field}.address")
    return address


def _mode(entry: Mapping[str, Any], field: str) -> str:
    mode = entry.get("mode", "managed")
    if not isinstance(mode, str):
        raise ProposalError("must be a string", field=f"{field}.mode")
    return mode


def _actions(entry: Mapping[str, Any], field: str) -> tuple[str, ...]:
    change = entry.get("change")
    if not isinstance(change, Mapping):
        raise ProposalError("missing or not an object", field=f"{field}.change")
    actions = change.get("actions")
    if not _is_list(actions):
        raise ProposalError("missing or not a list of strings", field=f"{field}.change.actions")
    for index, action in enumerate(actions):
        if not isinstance(action, str):
            raise ProposalError("must be a string", field=f"{field}.change.actions[{index}]")
    return tuple(actions)


def _note(entry: Mapping[str, Any], actions: tuple[str, ...], address: str) -> str:
    word, detail = _WORDING[actions]
    if entry.get("mode") == "data":
        word = "read data source"
    details = [detail] if detail else []
    if entry.get("deposed"):
        details.append("deposed object")     # its key is random, keep notes stable
    previous = entry.get("previous_address")
    if isinstance(previous, str) and previous:
        details.append(f"moved from {previous}")
    note = f"terraform: {word} {address}"
    if details:
        note += f" ({'; '.join(details)})"
    reason = entry.get("action_reason")
    if isinstance(reason, str) and reason:
        note += f" [{reason}]"
    return note


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))
