"""Incident scenarios: a directory with scenario.json (+ proposal, plan, policy files)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from blastwall.core.model import Decision, Proposal
from blastwall.core.proposal import parse_proposal
from blastwall.engine import Engine, local_files
from blastwall.errors import InputError


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    spec: dict

    @classmethod
    def load(cls, directory: Path) -> "Scenario":
        spec = json.loads((directory / "scenario.json").read_text())
        return cls(spec.get("name", directory.name), directory, spec)

    @property
    def kind(self) -> str:
        return self.spec.get("kind", "")

    @property
    def story(self) -> str:
        return self.spec.get("story", "")

    def proposal_doc(self) -> dict[str, Any]:
        src = self.spec["input"]
        if "proposal_file" in src:
            return json.loads((self.path / src["proposal_file"]).read_text())
        doc: dict[str, Any] = {"agent": src.get("agent", "scenario-agent"),
                               "operator": src.get("operator", "scenario-operator")}
        if "terraform_plan_file" in src:
            doc["terraform_plan"] = json.loads((self.path / src["terraform_plan_file"]).read_text())
        for key in ("argv", "command", "operations", "terraform_plan"):
            if key in src:
                doc[key] = src[key]
        return doc

    def engine(self, engines: dict | None = None) -> Engine:
        """The engine for this scenario's inventory and policy, shared through ``engines``."""
        engines = {} if engines is None else engines
        inv = (self.path / self.spec["inventory_file"]).resolve()
        pol = self.spec.get("policy_file")
        pol = (self.path / pol).resolve() if pol else None
        key = (inv, pol)
        if key not in engines:
            engines[key] = Engine.load(inv, pol)
        return engines[key]

    def proposal(self) -> Proposal:
        return parse_proposal(self.proposal_doc(), local_files(self.path))

    def run(self, engines: dict | None = None) -> Decision:
        at = self.spec.get("at")
        now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
        return self.engine(engines).decide(self.proposal(), now=now,
                                           kill_switch=bool(self.spec.get("kill_switch")))

    def mismatches(self, decision: Decision) -> list[str]:
        """How ``decision`` differs from what the scenario expects (empty: it passes)."""
        expect = self.spec.get("expect", {})
        out = []
        if "effect_in" in expect and str(decision.effect) not in expect["effect_in"]:
            out.append(f"effect {decision.effect} not in {expect['effect_in']}")
        got = decision.impact.to_dict()
        for key, want in expect.get("impact", {}).items():
            if got.get(key) != want:
                out.append(f"impact.{key} = {got.get(key)!r}, expected {want!r}")
        for rule in expect.get("rules", []):
            if rule not in {r.rule for r in decision.reasons}:
                out.append(f"rule {rule} did not fire")
        if "approvers" in expect and (decision.approval is None or decision.approval.approvers != expect["approvers"]):
            out.append(f"approvers {decision.approval and decision.approval.approvers}, expected {expect['approvers']}")
        return out


def load_all(root: Path) -> list[Scenario]:
    dirs = sorted(p.parent for p in root.glob("*/scenario.json"))
    if not dirs:
        raise InputError("no scenarios found", source=str(root))
    return [Scenario.load(d) for d in dirs]
