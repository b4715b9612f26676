"""How an MCP tool call becomes a proposal: a mapping file, refused by default.

    version: 1
    tools:
      k8s_delete:                       # tool name
        verb: delete
        target: "k8s:{context}:{kind}:{namespace}/{name}"   # {arg} = the call's argument, a.b = nested
        unjudged: [timeout_seconds]     # may be sent, forwarded as is: must not change what is touched
      k8s_delete_by_label:
        verb: delete
        selector: {alias_prefix: "k8s:{context}:{kind}:{namespace}/", tags: {"{label}": "{value}"}}
      k8s_get: {verb: read, target: "k8s:{context}:{kind}:{namespace}/{name}"}
      shell: {artifact: command, from: cmd}         # an argument that *is* an artifact
      kubectl: {artifact: argv, from: args, program: kubectl}   # args without the program: prepended
      apply_plan: {artifact: terraform_plan, from: plan}
    hidden: [exec_in_pod]               # never shown in tools/list, always refused

Unmapped tools are refused, never passed through.  A missing argument, or one
that is not a plain string where a template needs it, refuses the call.

The whole call is forwarded, so every argument it carries must be declared:
referenced by the template (for an artifact: its ``from``) or listed under
``unjudged``.  Any other argument (``all_namespaces: true``, ``force: true``)
refuses the call: it would reach the tool without being judged.  Nested
references (``{meta.name}``) declare only that key of ``meta``.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blastwall.core.model import Verb
from blastwall.errors import InputError, ProposalError
from blastwall.loaders.yamlsafe import load_yaml_with_lines

ARTIFACTS = ("argv", "command", "terraform_plan")
OPERATION_KEYS = frozenset({"verb", "target", "selector", "unjudged"})
ARTIFACT_KEYS = frozenset({"artifact", "from", "program", "unjudged"})
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")
_PROGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")

ArgPath = tuple[str, ...]          # an argument's place: ("meta", "name") for meta.name


class Unmapped(ProposalError):
    code = "unmapped_tool"


@dataclass(frozen=True)
class ToolMapping:
    tools: Mapping[str, Mapping[str, Any]]
    hidden: frozenset[str]

    def visible(self, name: str) -> bool:
        return name in self.tools and name not in self.hidden

    def proposal(self, tool: str, arguments: Mapping[str, Any], intent: str = "") -> dict:
        """The contract proposal (section 2) for one tool call, without agent/operator."""
        if not self.visible(tool):
            raise Unmapped(f"tool '{tool}' is not mapped to operations; refused", field="tool")
        if not isinstance(arguments, Mapping):
            raise ProposalError("tool arguments must be an object", field="arguments")
        spec = self.tools[tool]
        _refuse_undeclared(tool, arguments, declared_arguments(spec))
        if "artifact" in spec:
            return {"intent": intent, spec["artifact"]: _artifact(spec, arguments)}
        op: dict[str, Any] = {"verb": spec["verb"]}
        if "target" in spec:
            op["target"] = _fill(spec["target"], arguments)
        else:
            op["selector"] = _fill_tree(spec["selector"], arguments)
        return {"intent": intent, "operations": [op]}


def declared_arguments(spec: Mapping[str, Any]) -> frozenset[ArgPath]:
    """Every argument a call of this tool may carry: the judged ones and the unjudged list."""
    judged = [spec["from"]] if "artifact" in spec else _slots(spec.get("target", spec.get("selector")))
    return frozenset(_arg_path(name) for name in [*judged, *spec.get("unjudged", [])])


def load_mapping(path: str | Path) -> ToolMapping:
    text = Path(path).read_text(encoding="utf-8")
    doc, _ = load_yaml_with_lines(text, str(path))
    try:
        return parse_mapping(doc)
    except InputError as exc:
        raise InputError(exc.message, source=str(path), field=exc.field) from None


def parse_mapping(doc: Any) -> ToolMapping:
    if not isinstance(doc, Mapping) or doc.get("version") != 1:
        raise InputError("a mapping needs version: 1", field="version")
    tools = doc.get("tools") or {}
    if not isinstance(tools, Mapping):
        raise InputError("'tools' must map tool names to specs", field="tools")
    for name, spec in tools.items():
        _check_spec(str(name), spec)
    hidden = doc.get("hidden") or []
    if not isinstance(hidden, list):
        raise InputError("'hidden' must be a list of tool names", field="hidden")
    return ToolMapping(dict(tools), frozenset(map(str, hidden)))


def _check_spec(name: str, spec: Any) -> None:
    where = f"tools.{name}"
    if not isinstance(spec, Mapping):
        raise InputError("a tool spec is an object", field=where)
    known = ARTIFACT_KEYS if "artifact" in spec else OPERATION_KEYS
    for key in spec:
        if key not in known:
            raise InputError(f"unknown key '{key}'; a tool spec takes {', '.join(sorted(known))}",
                             field=f"{where}.{key}")
    _check_unjudged(spec.get("unjudged", []), f"{where}.unjudged")
    if "artifact" in spec:
        _check_artifact(spec, where)
        return
    try:
        Verb(spec.get("verb"))
    except ValueError:
        raise InputError(f"verb must be one of {', '.join(v.value for v in Verb)}", field=f"{where}.verb") from None
    if "target" in spec and "selector" in spec:
        raise InputError("give target or selector, not both", field=where)
    if "target" not in spec and "selector" not in spec:
        raise InputError("a tool spec needs a target or a selector template", field=where)


def _check_artifact(spec: Mapping[str, Any], where: str) -> None:
    if spec["artifact"] not in ARTIFACTS or not isinstance(spec.get("from"), str):
        raise InputError(f"artifact must be one of {', '.join(ARTIFACTS)} with 'from': ARGUMENT", field=where)
    if "program" not in spec:
        return
    if spec["artifact"] != "argv":
        raise InputError("'program' applies to argv artifacts only", field=f"{where}.program")
    if not isinstance(spec["program"], str) or not _PROGRAM.fullmatch(spec["program"]):
        raise InputError("'program' is the program's name, one plain word (kubectl)", field=f"{where}.program")


def _check_unjudged(names: Any, where: str) -> None:
    """A list of argument names (a.b for a nested one) the tool may receive without judgement."""
    if not isinstance(names, list):
        raise InputError("'unjudged' must be a list of argument names", field=where)
    for i, name in enumerate(names):
        if not isinstance(name, str) or not all(_arg_path(name)):
            raise InputError(f"unjudged[{i}] must be an argument name (a.b for a nested one)", field=f"{where}[{i}]")


def _slots(template: Any) -> list[str]:
    """The arguments a target or selector template references (keys and values)."""
    if isinstance(template, Mapping):
        return [s for k, v in template.items() for s in _slots(str(k)) + _slots(v)]
    return _SLOT.findall(template) if isinstance(template, str) else []


def _arg_path(name: str) -> ArgPath:
    return tuple(name.split("."))


def _refuse_undeclared(tool: str, arguments: Mapping[str, Any], declared: frozenset[ArgPath],
                       at: ArgPath = ()) -> None:
    """Refuse an argument that is neither judged nor declared unjudged; look inside objects
    only as deep as a nested reference goes."""
    for key, value in arguments.items():
        here = (*at, str(key))
        if here in declared:
            continue
        if isinstance(value, Mapping) and any(d[:len(here)] == here for d in declared):
            _refuse_undeclared(tool, value, declared, here)
            continue
        name = ".".join(here)
        raise ProposalError(f"argument '{name}' of tool '{tool}' is not judged: it is neither in the "
                            "mapping's template nor listed under unjudged; refused", field=f"arguments.{name}")


def _artifact(spec: Mapping[str, Any], arguments: Mapping[str, Any]) -> Any:
    value = _lookup(arguments, spec["from"])
    if "program" not in spec:
        return value
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise ProposalError(f"argument '{spec['from']}' must be a list of strings (the words after "
                            f"{spec['program']})", field=f"arguments.{spec['from']}")
    return [spec["program"], *value]


def _lookup(arguments: Mapping[str, Any], path: str) -> Any:
    value: Any = arguments
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ProposalError(f"missing argument '{path}'", field=f"arguments.{path}")
        value = value[part]
    return value


def _fill(template: str, arguments: Mapping[str, Any]) -> str:
    def slot(m: re.Match) -> str:
        value = _lookup(arguments, m.group(1))
        if not isinstance(value, str) or not value or not value.isprintable() \
                or any(c.isspace() or c in "{}" for c in value):
            raise ProposalError(f"argument '{m.group(1)}' must be a plain non-empty string",
                                field=f"arguments.{m.group(1)}")
        return value
    return _SLOT.sub(slot, template)


def _fill_tree(tree: Any, arguments: Mapping[str, Any]) -> Any:
    if isinstance(tree, Mapping):
        return {_fill(str(k), arguments): _fill_tree(v, arguments) for k, v in tree.items()}
    return _fill(tree, arguments) if isinstance(tree, str) else tree
