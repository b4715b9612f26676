"""Policy documents -> a compiled Policy; evaluation over facts (deny > approve > allow)."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cel_expr_python import cel

from blastwall.core.graph import SELECTOR_FIELDS
from blastwall.core.limits import Limit, parse_limits
from blastwall.core.model import Effect, Reason
from blastwall.core.policy.calendar import Freeze, Window, parse_freeze, parse_window
from blastwall.core.policy.facts import FACTS, cel_variables, check_activation, fact_groups, param_type
from blastwall.core.policy.template import parse, placeholders, render_parts
from blastwall.errors import PolicyError

TOP_KEYS = {"version", "extends", "params", "rules", "disable", "default", "freezes", "windows", "limits"}
RULE_KEYS = {"name", "effect", "when", "message", "alternative", "approvers"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Rule:
    name: str
    effect: Effect
    when: str
    message: str
    alternative: str
    approvers: int
    guard: bool
    program: Any = None
    parts: tuple = ()                 # message and alternative, parsed once (template.parse)


@dataclass(frozen=True)
class Outcome:
    reasons: tuple[Reason, ...]     # every rule that matched (or failed), strongest first
    effect: Effect
    approvers: int
    approval_rules: tuple[str, ...]


class OutcomeMemo:
    """Outcomes by the values of the facts they depend on: a policy is a pure function of them, and
    routine changes repeat the same counts, environments and regions.  Bounded; the oldest goes first."""
    SIZE = 4096

    def __init__(self) -> None:
        self._outcomes: dict[str, Outcome] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Outcome | None:
        return self._outcomes.get(key)

    def put(self, key: str, outcome: Outcome) -> Outcome:
        with self._lock:
            if len(self._outcomes) >= self.SIZE:
                del self._outcomes[next(iter(self._outcomes))]
            self._outcomes[key] = outcome
        return outcome

    def __len__(self) -> int:
        return len(self._outcomes)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    params: Mapping[str, Any]
    declared: Mapping[str, str]
    default: Effect
    freezes: tuple[Freeze, ...]
    windows: tuple[Window, ...]
    revision: str
    limits: tuple[Limit, ...] = ()
    env: Any = None                   # the CEL environment the rules were compiled in
    batches: tuple[tuple[int, int, Any], ...] = ()   # (start, end, program or None): rules[start:end] at once
    needed: tuple[str, ...] | None = None   # the facts some rule reads (None: all)
    fact_groups: tuple = ()                   # facts.fact_groups(declared)
    keyed: tuple[str, ...] | None = None    # the facts an outcome depends on (None: no memo)
    # init=False: dataclasses.replace() builds a new policy a memo of its own (its rules may differ)
    memo: OutcomeMemo = field(init=False, default_factory=OutcomeMemo, compare=False, repr=False)

    @property
    def production_envs(self) -> list[str]:
        return list(self.params.get("production_envs", ["prod", "production"]))

    def evaluate(self, facts: Mapping[str, Any]) -> Outcome:
        full = {**facts, **{f"params.{k}": v for k, v in self.params.items()}}
        problems = check_activation(self.declared, full, self.fact_groups)
        if problems:
            return _failed("policy-input", "; ".join(problems[:3]))
        if self.keyed is None:
            return self._run(full)
        key = repr([full[k] for k in self.keyed])      # exact for every fact type (-0.0, nan, True vs 1)
        return self.memo.get(key) or self.memo.put(key, self._run(full))

    def _run(self, full: Mapping[str, Any]) -> Outcome:
        matched: list[Reason] = []
        approvers, approval_rules = 0, []
        given = full if self.needed is None else {k: full[k] for k in self.needed}
        activation = self.env.Activation(given)       # facts converted to CEL once, shared by every rule
        for rule, ok, detail in _each(self.rules, self.batches, activation):
            if detail:
                matched.append(Reason(rule.name, Effect.DENY,
                                      f"Rule '{rule.name}' could not be evaluated ({detail}); failing closed."))
            elif ok:
                message, alternative = rule.parts
                matched.append(Reason(rule.name, rule.effect, render_parts(message, full),
                                      render_parts(alternative, full)))
                if rule.effect is Effect.APPROVE:
                    approvers = max(approvers, rule.approvers)
                    approval_rules.append(rule.name)
        return _combine(matched, self.default, approvers, approval_rules)


def _each(rules: tuple[Rule, ...], batches, activation: Any):
    """(rule, holds, error detail) for every rule: a batch's rules from one evaluation of its
    program (bit i set when its rule i holds); each rule alone when the batch has no program
    or any of its rules errs, so the one that failed is named."""
    for start, end, program in batches or ((0, len(rules), None),):
        bits = _bits(program, activation) if program is not None else None
        for i, rule in enumerate(rules[start:end]):
            if bits is not None:
                yield rule, (bits >> i) & 1 == 1, ""
            else:
                yield (rule, *_holds(rule, activation))


def _bits(program: Any, activation: Any) -> int | None:
    try:
        value = program.eval(activation)
    except Exception:  # noqa: BLE001
        return None
    return value.value() if value.type() == cel.Type.INT else None


def _holds(rule: Rule, activation: Any) -> tuple[bool, str]:
    try:
        value = rule.program.eval(activation)
    except Exception as exc:  # noqa: BLE001  any evaluation failure is a deny
        return False, str(exc).splitlines()[0]
    if value.type() == cel.Type.ERROR or not isinstance(value.value(), bool):
        return False, str(value.value()).splitlines()[0]
    return value.value(), ""


def _combine(matched: list[Reason], default: Effect, approvers: int, rules: list[str]) -> Outcome:
    if not matched:
        matched = [Reason("default", default, f"No rule matched; the policy default is {default}.")]
        approvers = 1 if default is Effect.APPROVE else 0
    effect = max((r.effect for r in matched), key=lambda e: e.severity)
    shown = [r for r in matched if r.effect is not Effect.ALLOW or effect is Effect.ALLOW]
    shown.sort(key=lambda r: (-r.effect.severity, r.rule))
    if effect is Effect.APPROVE and approvers == 0:
        approvers = 1
    return Outcome(tuple(shown), effect, approvers, tuple(rules))


def _failed(rule: str, detail: str) -> Outcome:
    return Outcome((Reason(rule, Effect.DENY, f"Policy input is invalid ({detail}); failing closed."),),
                   Effect.DENY, 0, ())


# ---- compilation ----------------------------------------------------------

def compile_policy(doc: Mapping[str, Any] | None, builtin: Mapping[str, Any]) -> Policy:
    """Merge ``doc`` (a parsed policy file, or None for the recommended policy) with the built-ins."""
    doc = {"version": 1, "extends": "recommended"} if doc is None else doc
    _check_top(doc)
    base = builtin["recommended"] if doc.get("extends") == "recommended" else {}
    params = _merge_params(base.get("params", {}), doc.get("params") or {})
    declared = {**FACTS, **{f"params.{k}": param_type(v) for k, v in params.items()}}
    env = cel.NewEnv(variables=cel_variables(declared))
    disabled = _disabled(doc, base)
    raw_rules = [(r, True, f"guards[{i}]") for i, r in enumerate(builtin["guards"])]
    raw_rules += [(r, False, f"recommended.rules[{i}]") for i, r in enumerate(base.get("rules", []))
                  if r["name"] not in disabled]
    raw_rules += [(r, False, f"rules[{i}]") for i, r in enumerate(_list(doc, "rules"))]
    rules = _compile_rules(raw_rules, env, declared, params)
    default = _effect(doc.get("default", base.get("default", "approve")), "default")
    freezes = tuple(parse_freeze(f, f"freezes[{i}]", _check_scope) for i, f in enumerate(_list(doc, "freezes")))
    windows = tuple(parse_window(w, f"windows[{i}]", _check_scope) for i, w in enumerate(_list(doc, "windows")))
    limits = parse_limits(doc["limits"] if "limits" in doc else base.get("limits"))
    revision = _revision(doc, builtin)
    needed = _needed(declared, rules)
    return Policy(rules, params, declared, default, freezes, windows, revision, limits, env, _batch(env, rules),
                  needed, fact_groups(declared), _keyed(declared, rules, needed))


def _needed(declared: Mapping[str, str], rules: tuple[Rule, ...]) -> tuple[str, ...]:
    """Facts the rules read, found in their checked programs (which name every variable they
    resolve, however the source spells it); converting only these to CEL halves the cost.  A name
    inside a string literal is found too, which only converts one fact more than needed."""
    checked = [r.program.serialize() for r in rules]
    return tuple(name for name in declared if any(name.encode() in c for c in checked))


def _keyed(declared: Mapping[str, str], rules: tuple[Rule, ...], needed: tuple[str, ...]) -> tuple[str, ...] | None:
    """The facts an outcome depends on: those the rules read and those their messages show.  None (no
    memo) when that includes the clock: no two decisions would share an outcome."""
    shown = {p for r in rules for text in (r.message, r.alternative) for p in placeholders(text)}
    keyed = tuple(name for name in declared if name in needed or name in shown)
    return None if "context.now" in keyed else keyed


BATCH = 16          # rules per batched program (its sum is a balanced tree: CEL parses 32 levels deep at most)


def _batch(env, rules: tuple[Rule, ...]) -> tuple[tuple[int, int, Any], ...]:
    """One program per BATCH rules summing a bit per rule that holds: a single call into CEL
    instead of one per rule.  Newlines keep a rule's trailing // comment inside its own term.
    A batch that does not compile (too deep) is evaluated rule by rule."""
    out = []
    for start in range(0, len(rules), BATCH):
        chunk = rules[start:start + BATCH]
        terms = [f"((\n{r.when}\n) ? {1 << i} : 0)" for i, r in enumerate(chunk)]
        try:
            program = env.compile(_balanced_sum(terms))
        except Exception:  # noqa: BLE001
            program = None
        out.append((start, start + len(chunk), program))
    return tuple(out)


def _balanced_sum(terms: list[str]) -> str:
    if len(terms) == 1:
        return terms[0]
    mid = len(terms) // 2
    return f"({_balanced_sum(terms[:mid])} + {_balanced_sum(terms[mid:])})"


def _check_top(doc: Mapping[str, Any]) -> None:
    if not isinstance(doc, Mapping):
        raise PolicyError("a policy must be an object")
    if doc.get("version") != 1:
        raise PolicyError(f"unsupported version {doc.get('version')!r} (expected 1)", field="version")
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise PolicyError(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(TOP_KEYS))})", field=unknown[0])
    if doc.get("extends") not in (None, "recommended"):
        raise PolicyError("'extends' may only be 'recommended'", field="extends")


def _list(doc: Mapping[str, Any], key: str) -> list:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise PolicyError(f"'{key}' must be a list", field=key)
    return value


def _merge_params(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(given, Mapping):
        raise PolicyError("'params' must be a map", field="params")
    params = dict(base)
    for key, value in given.items():
        where = f"params.{key}"
        if not isinstance(key, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise PolicyError("parameter names are lower_snake_case", field=where)
        if key in base and param_type(base[key]) == "double" and param_type(value) == "int":
            value = float(value)
        if param_type(value) is None:
            raise PolicyError("a parameter is a number, string, boolean or list of strings", field=where)
        if key in base and param_type(value) != param_type(base[key]):
            raise PolicyError(f"must be {param_type(base[key])} like the built-in value", field=where)
        params[key] = value
    return params


def _disabled(doc: Mapping[str, Any], base: Mapping[str, Any]) -> set[str]:
    names = set(_list(doc, "disable"))
    known = {r["name"] for r in base.get("rules", [])}
    unknown = sorted(str(n) for n in names - known)
    if unknown:
        raise PolicyError(f"cannot disable '{unknown[0]}': not a recommended rule "
                          "(guards cannot be disabled)", field="disable")
    return names


def _compile_rules(raw_rules, env, declared, params) -> tuple[Rule, ...]:
    seen: set[str] = set()
    out = []
    for raw, guard, where in raw_rules:
        rule = _compile_rule(raw, guard, where, env, declared, params)
        if rule.name in seen:
            raise PolicyError(f"rule name '{rule.name}' is used twice", field=f"{where}.name")
        seen.add(rule.name)
        out.append(rule)
    return tuple(out)


def _compile_rule(raw: Any, guard: bool, where: str, env, declared, params) -> Rule:
    if not isinstance(raw, Mapping):
        raise PolicyError("a rule must be an object", field=where)
    extra = sorted(set(raw) - RULE_KEYS)
    if extra:
        raise PolicyError(f"unknown rule key '{extra[0]}'", field=f"{where}.{extra[0]}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise PolicyError("'name' must be lower-case letters, digits and dashes", field=f"{where}.name")
    effect = _effect(raw.get("effect"), f"{where}.effect")
    when, message = raw.get("when"), raw.get("message")
    if not isinstance(when, str) or not when.strip():
        raise PolicyError("'when' (a CEL expression) is required", field=f"{where}.when")
    if not isinstance(message, str) or not message.strip():
        raise PolicyError("'message' is required", field=f"{where}.message")
    alternative = raw.get("alternative", "")
    for text, key in ((message, "message"), (alternative, "alternative")):
        bad = [p for p in placeholders(str(text)) if p not in declared]
        if bad:
            raise PolicyError(f"unknown placeholder '{{{bad[0]}}}'", field=f"{where}.{key}")
    return Rule(name, effect, when, message, str(alternative),
                _approvers(raw.get("approvers", 1), params, f"{where}.approvers"), guard,
                _compile_expr(env, when, f"{where}.when"), (parse(message), parse(str(alternative))))


def _compile_expr(env, when: str, where: str):
    try:
        program = env.compile(when)
    except Exception as exc:  # noqa: BLE001  cel raises RuntimeError with the diagnostic
        detail = " ".join(str(exc).split("\n")[0].split()[1:]) or str(exc)
        raise PolicyError(f"CEL does not compile: {detail}", field=where) from None
    if program.return_type() != cel.Type.BOOL:
        raise PolicyError(f"CEL expression must be boolean, is {program.return_type().name()}", field=where)
    return program


def _approvers(value: Any, params: Mapping[str, Any], where: str) -> int:
    if isinstance(value, str):
        value = params.get(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 20:
        raise PolicyError("'approvers' must be 1..20 or the name of such a parameter", field=where)
    return value


def _effect(value: Any, where: str) -> Effect:
    try:
        return Effect(value)
    except ValueError:
        raise PolicyError(f"effect must be allow, approve or deny, not {value!r}", field=where) from None


def _check_scope(scope: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(scope, Mapping):
        raise PolicyError("a scope is a selector map ({} = everything)", field=where)
    bad = sorted(set(scope) - SELECTOR_FIELDS)
    if bad:
        raise PolicyError(f"unknown scope field '{bad[0]}'", field=f"{where}.{bad[0]}")
    return dict(scope)


def _revision(doc: Mapping[str, Any], builtin: Mapping[str, Any]) -> str:
    canon = json.dumps({"doc": doc, "builtin": builtin}, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(canon).hexdigest()[:16]
