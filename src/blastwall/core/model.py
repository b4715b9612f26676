"""Plain, frozen values that flow through the engine (contract sections 2 and 3)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any



MAX_COST_PER_MONTH = 1e12      # a resource's or an operation's: any number of them sums to a finite cost

class Verb(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    RESTART = "restart"
    SCALE = "scale"
    EXEC = "exec"


DESTRUCTIVE_VERBS = frozenset({Verb.DELETE, Verb.REPLACE})
CHANGE_VERBS = frozenset({Verb.UPDATE, Verb.RESTART, Verb.SCALE})
HARMLESS_VERBS = frozenset({Verb.READ, Verb.CREATE})


class Effect(StrEnum):
    ALLOW = "allow"
    APPROVE = "approve"
    DENY = "deny"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Effect.ALLOW: 0, Effect.APPROVE: 1, Effect.DENY: 2}


@dataclass(frozen=True, slots=True)
class Operation:
    """One thing an agent wants done, to one target or to a selector's matches.

    ``fallback`` (reads only): a broader target that stands in when ``target`` is
    not in the inventory (a pod under a known namespace).  ``upsert``: update if
    the target exists, create otherwise (``kubectl apply``).  ``destructive``
    marks an opaque ``exec`` known to destroy (``terraform destroy``, ``rm -rf``).
    """
    verb: Verb
    target: str | None = None
    selector: Mapping[str, Any] | None = None
    cost_per_month: float = 0.0
    destructive: bool = False
    upsert: bool = False
    fallback: str | None = None
    note: str = ""


def opaque(what: str, destructive: bool = False) -> Operation:
    """An action whose effect cannot be known: ``exec`` on an unknown target.

    The target contains a space, so it can never match an inventory id.
    """
    label = " ".join(what.split())
    if len(label) > 80:
        label = label[:77] + "..."
    return Operation(Verb.EXEC, target=f"<opaque: {label}>", destructive=destructive, note=what)


@dataclass(frozen=True, slots=True)
class Proposal:
    agent: str
    operator: str
    intent: str
    operations: tuple[Operation, ...]
    source: str = "operations"          # operations | argv | command | terraform_plan
    artifact: str = ""                  # the artifact exactly as given (see proposal.exact_artifact)


@dataclass(frozen=True, slots=True)
class Impact:
    targets: tuple[str, ...]
    unknown_targets: tuple[str, ...]
    deleted: int
    degraded: int
    resources: int
    environments: tuple[str, ...]
    regions: tuple[str, ...]
    customers: int
    stateful_deleted: int
    cost_delta_per_month: float
    fleet_fraction: float

    def to_dict(self) -> dict:
        return {
            "targets": list(self.targets),
            "unknown_targets": list(self.unknown_targets),
            "deleted": self.deleted, "degraded": self.degraded, "resources": self.resources,
            "environments": list(self.environments), "regions": list(self.regions),
            "customers": self.customers, "stateful_deleted": self.stateful_deleted,
            "cost_delta_per_month": round(self.cost_delta_per_month, 2),
            "fleet_fraction": round(self.fleet_fraction, 6),
        }

    @classmethod
    def from_dict(cls, i: Mapping[str, Any]) -> "Impact":
        """``to_dict`` read back."""
        return cls(tuple(i["targets"]), tuple(i["unknown_targets"]), i["deleted"], i["degraded"], i["resources"],
                   tuple(i["environments"]), tuple(i["regions"]), i["customers"], i["stateful_deleted"],
                   i["cost_delta_per_month"], i["fleet_fraction"])


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    effect: Effect
    message: str
    alternative: str = ""

    def to_dict(self) -> dict:
        return {"rule": self.rule, "effect": str(self.effect), "message": self.message}


@dataclass(frozen=True, slots=True)
class ApprovalRequirement:
    approvers: int
    environments: tuple[str, ...]
    regions: tuple[str, ...]
    rules: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"approvers": self.approvers, "environments": list(self.environments),
                "regions": list(self.regions), "rules": list(self.rules)}


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    effect: Effect
    reasons: tuple[Reason, ...]
    impact: Impact
    approval: ApprovalRequirement | None
    explanation: str
    provenance: Mapping[str, str] = field(default_factory=dict)
    rule_approvers: int = 0             # what the approve rules ask for, even when a deny wins (not on the wire)

    def to_dict(self) -> dict:
        return {
            "decision_id": self.decision_id,
            "effect": str(self.effect),
            "reasons": [r.to_dict() for r in self.reasons],
            "impact": self.impact.to_dict(),
            "approval": self.approval.to_dict() if self.approval else None,
            "explanation": self.explanation,
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Decision":
        """``to_dict`` read back (as the service returns it); reason alternatives are not on the wire."""
        impact, a = Impact.from_dict(d["impact"]), d.get("approval")
        approval = ApprovalRequirement(a["approvers"], tuple(a["environments"]), tuple(a["regions"]),
                                       tuple(a["rules"])) if a else None
        reasons = tuple(Reason(r["rule"], Effect(r["effect"]), r["message"]) for r in d["reasons"])
        return cls(d["decision_id"], Effect(d["effect"]), reasons, impact, approval, d["explanation"],
                   dict(d.get("provenance") or {}))
