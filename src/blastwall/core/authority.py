"""Who may approve what: an approval counts only if the reviewer's authority covers the
*computed* impact, and the reviewer is neither the proposing agent nor its operator."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from blastwall.errors import InputError

ANY = "*"


@dataclass(frozen=True)
class Authority:
    environments: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    max_customers: int = 0
    max_fleet_fraction: float = 0.0

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, where: str) -> "Authority":
        raw = raw or {}
        try:
            return cls(frozenset(map(str, raw.get("environments", []))), frozenset(map(str, raw.get("regions", []))),
                       int(raw.get("max_customers", 0)), float(raw.get("max_fleet_fraction", 0.0)))
        except (TypeError, ValueError):
            raise InputError("authority needs environments, regions (lists), max_customers, max_fleet_fraction",
                             field=where) from None

    def gaps(self, impact: Mapping[str, Any]) -> list[str]:
        """What of ``impact`` (contract decision impact dict) this authority does not cover."""
        out = []
        envs = [e for e in impact["environments"] if ANY not in self.environments and e not in self.environments]
        regs = [r for r in impact["regions"] if ANY not in self.regions and r not in self.regions]
        if envs:
            out.append(f"environments {', '.join(envs)}")
        if regs:
            out.append(f"regions {', '.join(regs)}")
        if impact["unknown_targets"] and not (ANY in self.environments and ANY in self.regions):
            out.append("unknown targets (needs authority over every environment and region)")
        if impact["customers"] > self.max_customers:
            out.append(f"{impact['customers']:,} customers (ceiling {self.max_customers:,})")
        if impact["fleet_fraction"] > self.max_fleet_fraction:
            out.append(f"{impact['fleet_fraction']:.1%} of the fleet (ceiling {self.max_fleet_fraction:.1%})")
        return out


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str                                  # agent | human
    roles: frozenset[str] = frozenset()        # approver, kill-switch, admin
    operator: str = ""                         # agents: the human accountable for them
    authority: Authority = field(default_factory=Authority)

    @property
    def is_human(self) -> bool:
        return self.kind == "human"


@dataclass(frozen=True)
class ReviewCheck:
    accepted: bool
    reason: str


def check_reviewer(reviewer: Principal, proposal: Mapping[str, Any], impact: Mapping[str, Any],
                   reviewed_by: set[str]) -> ReviewCheck:
    """May ``reviewer`` review this proposal?  Every refusal says why."""
    if not reviewer.is_human:
        return ReviewCheck(False, f"{reviewer.name} is an agent; only humans review")
    if "approver" not in reviewer.roles:
        return ReviewCheck(False, f"{reviewer.name} does not hold the approver role")
    if reviewer.name == proposal.get("agent"):
        return ReviewCheck(False, "the requester cannot review its own proposal")
    if reviewer.name == proposal.get("operator"):
        return ReviewCheck(False, f"{reviewer.name} operates the proposing agent and cannot review its proposal")
    if reviewer.name in reviewed_by:
        return ReviewCheck(False, f"{reviewer.name} has already reviewed this request")
    gaps = reviewer.authority.gaps(impact)
    if gaps:
        return ReviewCheck(False, f"{reviewer.name}'s authority does not cover the computed impact: "
                                  + "; ".join(gaps))
    return ReviewCheck(True, "eligible")
