"""impact + policy + context -> Decision, with an explanation and a safer alternative."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from blastwall.core import sets
from blastwall.core.graph import Fleet, match
from blastwall.core.impact import BlastRadius, blast_radius, resolve
from blastwall.core.model import (CHANGE_VERBS, ApprovalRequirement, Decision, Effect, Impact, Operation,
                                  Proposal, Verb)
from blastwall.core.policy import Outcome, Policy
from blastwall.core.policy.calendar import closed_scopes

NON_REGIONS = ("global", "unknown")


@dataclass(frozen=True)
class Context:
    """What the world looks like at decision time, read once and passed in as plain values."""
    now: datetime
    kill_switch: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def decide(fleet: Fleet, policy: Policy, proposal: Proposal, ctx: Context,
           measured: tuple[BlastRadius, Impact] | None = None) -> Decision:
    """``measured``: the proposal's blast radius and impact on ``fleet`` if already known."""
    radius, impact = measured or measure(fleet, proposal.operations)
    facts = policy_facts(fleet, policy, proposal, radius, impact, ctx)
    outcome = policy.evaluate(facts)
    approval = _approval(outcome, impact)
    explanation = explain(proposal, impact, outcome, facts)
    provenance = {"policy_revision": policy.revision, "inventory_revision": fleet.revision,
                  "at": ctx.now.isoformat()}
    decision_id = _decision_id(proposal, ctx, provenance)
    return Decision(decision_id, outcome.effect, outcome.reasons, impact, approval, explanation, provenance,
                    outcome.approvers)


def measure(fleet: Fleet, operations) -> tuple[BlastRadius, Impact]:
    radius = blast_radius(fleet, resolve(fleet, operations))
    return radius, radius.impact()


def policy_facts(fleet: Fleet, policy: Policy, proposal: Proposal, radius: BlastRadius,
                 impact: Impact, ctx: Context) -> dict[str, Any]:
    changing = _kept(radius, ("changing",), lambda: _changing(fleet, radius)) if policy.freezes or policy.windows \
        else _NOT_ASKED
    return {
        "proposal.agent": proposal.agent, "proposal.operator": proposal.operator,
        "proposal.source": proposal.source, "proposal.operations": len(proposal.operations),
        "proposal.opaque_commands": _opaque_commands(proposal),
        **_fresh_lists(_kept(radius, ("facts", tuple(policy.production_envs)),
                             lambda: _radius_facts(fleet, policy, radius, impact))),
        "context.kill_switch": ctx.kill_switch, "context.now": ctx.now,
        "context.frozen": _frozen(fleet, policy, changing, ctx.now),
        "context.closed_windows": _closed_windows(fleet, policy, changing, ctx.now),
    }


def _kept(radius: BlastRadius, key: tuple, compute):
    """A value derived from the radius alone (and ``key``), computed once per radius: a radius the
    engine kept (engine.RadiusMemo) serves every proposal that repeats its operations."""
    found = radius.derived.get(key)
    if found is None:
        found = radius.derived.setdefault(key, compute())
    return found


def _fresh_lists(facts: dict[str, Any]) -> dict[str, Any]:
    """The kept facts with lists of their own (nothing downstream may change a kept one)."""
    return {k: list(v) if type(v) is list else v for k, v in facts.items()}


def _radius_facts(fleet: Fleet, policy: Policy, radius: BlastRadius, impact: Impact) -> dict[str, Any]:
    """The facts that follow from the blast radius and the policy's production environments."""
    prod = _production_mask(fleet, policy)
    touched = radius.touched
    prod_touched = touched[prod[touched]]
    destructive = radius.destructive
    changed = radius.resolved.indices(CHANGE_VERBS)
    stateful_prod = fleet.cached(("stateful-prod", tuple(policy.production_envs)), lambda: fleet.stateful & prod)
    return {
        "proposal.verbs": list(radius.resolved.verbs),
        "impact.targets": len(impact.targets), "impact.unknown_targets": len(impact.unknown_targets),
        "impact.unknown_destructive": radius.resolved.unknown_destructive,
        "impact.deleted": impact.deleted, "impact.degraded": impact.degraded,
        "impact.resources": impact.resources, "impact.customers": impact.customers,
        "impact.stateful_deleted": impact.stateful_deleted,
        "impact.cost_delta_per_month": impact.cost_delta_per_month,
        "impact.fleet_fraction": impact.fleet_fraction,
        "impact.environments": list(impact.environments), "impact.regions": list(impact.regions),
        "impact.destructive": bool(radius.deleted.size) or radius.resolved.unknown_destructive > 0,
        "impact.destructive_environments": fleet.column("env").values(destructive),
        "impact.destructive_production_regions": _regions(fleet, destructive[prod[destructive]]),
        "impact.production": bool(prod_touched.size),
        "impact.production_regions": _regions(fleet, prod_touched),
        "impact.production_stateful_deleted": int(stateful_prod[radius.deleted].sum()),
        "impact.production_customers": int(fleet.customers[prod_touched].sum()),
        "impact.change_regions": _regions(fleet, changed[prod[changed]]),
        "fleet.size": fleet.size,
        "fleet.regions": fleet.cached("regions", lambda: _regions(fleet, np.arange(fleet.size))),
        "fleet.production_regions": fleet.cached(("prod-regions", tuple(policy.production_envs)),
                                                 lambda: _regions(fleet, np.flatnonzero(prod))),
    }


MAX_OPAQUE_SHOWN, MAX_OPAQUE_CHARS = 3, 200


def _opaque_commands(proposal: Proposal) -> list[str]:
    """What each opaque operation runs, and why blastwall cannot vouch for it (for the approver)."""
    shown = [" ".join((op.note or op.target or "").split()) for op in proposal.operations if op.verb == Verb.EXEC]
    shown = [s if len(s) <= MAX_OPAQUE_CHARS else s[:MAX_OPAQUE_CHARS - 3] + "..." for s in shown]
    return shown[:MAX_OPAQUE_SHOWN] + ([f"{len(shown) - MAX_OPAQUE_SHOWN} more"] if len(shown) > MAX_OPAQUE_SHOWN else [])


def _production_mask(fleet: Fleet, policy: Policy) -> np.ndarray:
    envs = tuple(policy.production_envs)

    def compute() -> np.ndarray:
        col = fleet.column("env")
        codes = [col.code_of(e) for e in envs if col.code_of(e) >= 0]
        return np.isin(col.codes, codes)
    return fleet.cached(("prod-mask", envs), compute)


def _regions(fleet: Fleet, idx: np.ndarray) -> list[str]:
    return [r for r in fleet.column("region").values(idx) if r not in NON_REGIONS]


_NOT_ASKED = (np.empty(0, np.int64), False)     # no freeze or window to check it against


def _changing(fleet: Fleet, radius: BlastRadius) -> tuple[np.ndarray, bool]:
    """Resources a non-read operation touches (created ones included), and whether any exists."""
    created = radius.resolved.by_verb.get(Verb.CREATE, np.empty(0, np.int64))
    mutating = any(v != "read" for v in radius.resolved.verbs)
    return sets.union(radius.touched, created, fleet.size), mutating


def _frozen(fleet: Fleet, policy: Policy, changing: tuple[np.ndarray, bool], now: datetime) -> list[str]:
    idx, mutating = changing
    return sorted(f.name for f in policy.freezes
                  if mutating and f.active(now) and _in_scope(fleet, f.scope, idx))


def _closed_windows(fleet: Fleet, policy: Policy, changing: tuple[np.ndarray, bool], now: datetime) -> list[str]:
    idx, mutating = changing
    if not mutating:
        return []
    return sorted(name for name, scope in closed_scopes(list(policy.windows), now).values()
                  if _in_scope(fleet, scope, idx))


def _in_scope(fleet: Fleet, scope, idx: np.ndarray) -> bool:
    """An empty scope is everything, including what is created or unknown."""
    return not scope or bool(match(fleet, scope, idx).any())


def _approval(outcome: Outcome, impact: Impact) -> ApprovalRequirement | None:
    if outcome.effect is not Effect.APPROVE:
        return None
    return ApprovalRequirement(outcome.approvers, impact.environments, impact.regions,
                               tuple(sorted(outcome.approval_rules)))


def explain(proposal: Proposal, impact: Impact, outcome: Outcome, facts: dict[str, Any]) -> str:
    verdict = {Effect.ALLOW: "Allowed", Effect.APPROVE: "Needs approval", Effect.DENY: "Denied"}[outcome.effect]
    parts = [f"{verdict}: {summarize(impact)}."]
    if outcome.effect is Effect.APPROVE:
        parts.append(f"{outcome.approvers} human approver(s) other than the requester, with authority over "
                     f"{', '.join(impact.environments) or 'the affected scope'}"
                     f"{' in ' + ', '.join(impact.regions) if impact.regions else ''}, must approve.")
    strongest = [r for r in outcome.reasons if r.effect is outcome.effect]
    if outcome.effect is not Effect.ALLOW:
        parts.append(" ".join(r.message for r in strongest))
        alternatives = list(dict.fromkeys(r.alternative for r in strongest if r.alternative))
        if alternatives:
            parts.append("Safer alternative: " + " ".join(alternatives))
    return " ".join(parts)


def summarize(impact: Impact) -> str:
    if impact.resources == 0:
        unknown = len(impact.unknown_targets)
        return f"{unknown} target(s) unknown to the inventory" if unknown else "touches no known resource"
    bits = []
    if impact.deleted:
        bits.append(f"deletes {impact.deleted:,} resource(s)"
                    + (f" ({impact.stateful_deleted} holding data)" if impact.stateful_deleted else ""))
    if impact.degraded:
        bits.append(f"degrades {impact.degraded:,} more")
    if not bits and impact.resources:
        bits.append(f"touches {impact.resources:,} resource(s)")
    where = []
    if impact.environments:
        where.append(f"in {', '.join(impact.environments)}")
    if impact.regions:
        where.append(f"across {', '.join(impact.regions)}")
    text = ", ".join(bits) + (" " + " ".join(where) if where else "")
    if impact.resources:
        text += f", serving {impact.customers:,} customers ({impact.fleet_fraction:.1%} of the fleet)"
    if impact.unknown_targets:
        text += f"; {len(impact.unknown_targets)} target(s) unknown to the inventory"
    return text


_OP_FIELDS = tuple(f.name for f in fields(Operation))


def operations_key(operations) -> bytes:
    """Canonical bytes of every field of every operation: equal exactly when the operations are."""
    return _canonical([[getattr(op, name) for name in _OP_FIELDS] for op in operations])


def _canonical(doc) -> bytes:
    try:
        return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:                      # e.g. a selector with non-string keys: the slower, exact encoder
        return json.dumps(doc, sort_keys=True, default=repr).encode()


def _decision_id(proposal: Proposal, ctx: Context, provenance: dict) -> str:
    meta = _canonical({"proposal": [proposal.agent, proposal.operator, proposal.intent, proposal.source],
                       "kill_switch": ctx.kill_switch, **provenance})
    return "dec_" + hashlib.sha256(meta + b"\n" + operations_key(proposal.operations)).hexdigest()[:24]
