"""The governance service's logic, independent of HTTP: decide, record, approve, grant, stop.

Every state change and its audit records are written in one store transaction;
if that fails the request is refused.  Refusals of reviews and grants are
audited too (they commit their audit record, then raise).
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from blastwall.core.authority import Principal, check_reviewer
from blastwall.core.limits import Charge, charges
from blastwall.core.model import ApprovalRequirement, Decision, Effect, Proposal, Reason
from blastwall.core.proposal import parse_proposal
from blastwall.engine import Engine
from blastwall.errors import BlastwallError
from blastwall.service.errors import Conflict, Forbidden, NotFound, Unauthorized
from blastwall.service.metrics import Metrics
from blastwall.service.principals import Directory
from blastwall.store.base import Store

OVERRIDABLE = frozenset({"freeze", "change-window"})


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Settings:
    approval_ttl: timedelta = timedelta(hours=1)
    grant_ttl: timedelta = timedelta(minutes=15)


class _OverBudget(Exception):
    def __init__(self, charge: Charge):
        self.charge = charge


class Gateway:
    def __init__(self, inventory: str | Path, policy: str | Path | None, store: Store, principals: Directory,
                 clock: Callable[[], datetime] = utcnow, settings: Settings = Settings()):
        self.inventory_path, self.policy_path = inventory, policy
        self.engine = Engine.load(inventory, policy)
        self.store, self.principals, self.clock, self.settings = store, principals, clock, settings
        self.metrics = Metrics()
        self._reload_lock = threading.Lock()

    # ---- identity -------------------------------------------------------------
    def authenticate(self, token: str | None, what: str) -> Principal:
        principal = self.principals.authenticate(token)
        if principal is None:
            self.store.transact(lambda tx: tx.audit("auth_failure", "anonymous",
                                                    {"request": what, "token_given": bool(token)}, self.clock()))
            raise Unauthorized("missing or invalid bearer token")
        return principal

    # ---- proposals ------------------------------------------------------------
    def propose(self, agent: Principal, doc: dict, emergency: bool = False) -> dict:
        if agent.kind != "agent":
            raise Forbidden("only agents propose changes; humans review them")
        proposal = self._own_proposal(agent, doc)
        engine, now = self.engine, self.clock()
        with self.metrics.timer():
            decision = self._decide(engine, proposal, now)
        if emergency:
            decision = _emergency(decision)
        digest = binding_digest(proposal_doc(proposal), engine)
        due = self._charges(engine, proposal, decision, now) if decision.effect is Effect.ALLOW else []
        try:
            ids = self.store.transact(lambda tx: self._record(tx, proposal, decision, digest, due, now, emergency))
        except _OverBudget as over:
            decision = _over_budget(decision, over.charge)
            ids = self.store.transact(lambda tx: self._record(tx, proposal, decision, digest, [], now, emergency))
        self.metrics.decided(decision, agent.name, bool(due))
        return {**ids, "digest": digest, "decision": decision.to_dict()}

    def _own_proposal(self, agent: Principal, doc: Any) -> Proposal:
        if not isinstance(doc, dict):
            raise BlastwallError("the body must be a proposal object")
        if doc.get("agent", agent.name) != agent.name:
            raise Forbidden(f"authenticated as {agent.name}, cannot propose as {doc.get('agent')!r}")
        return parse_proposal({**doc, "agent": agent.name, "operator": agent.operator})

    def _decide(self, engine: Engine, proposal: Proposal, now: datetime) -> Decision:
        switches = {k for k, v in self.store.kill_switches().items() if v["engaged"]}
        killed = "global" in switches or f"agent:{proposal.agent}" in switches
        decision = engine.decide(proposal, now=now, kill_switch=killed)
        if not killed and any(f"env:{e}" in switches for e in decision.impact.environments):
            decision = engine.decide(proposal, now=now, kill_switch=True)
        return decision

    def _charges(self, engine: Engine, proposal: Proposal, decision: Decision, now: datetime) -> list[Charge]:
        if all(op.verb == "read" for op in proposal.operations):
            return []
        return charges(engine.policy.limits, proposal.agent, decision.impact.to_dict(), now)

    def _record(self, tx, proposal: Proposal, decision: Decision, digest: str, due: list[Charge],
                now: datetime, emergency: bool) -> dict:
        for charge in due:
            if not tx.take_budget(charge.key, charge.amount, charge.maximum):
                raise _OverBudget(charge)
        pid = new_id("prop")
        rid = new_id("req") if decision.effect is Effect.APPROVE else None
        doc = proposal_doc(proposal)
        tx.insert_proposal({
            "id": pid, "agent": proposal.agent, "operator": proposal.operator, "intent": proposal.intent,
            "proposal": doc, "decision": decision.to_dict(), "effect": str(decision.effect), "digest": digest,
            "policy_revision": decision.provenance["policy_revision"],
            "inventory_revision": decision.provenance["inventory_revision"],
            "status": {"allow": "allowed", "approve": "pending", "deny": "denied"}[decision.effect],
            "created_at": now})
        tx.audit("proposal", proposal.agent, {"proposal_id": pid, "proposal": doc, "digest": digest,
                                              "emergency": emergency}, now)
        tx.audit("decision", "system", {"proposal_id": pid, "decision": decision.to_dict()}, now)
        if rid:
            scope = {"environments": list(decision.approval.environments), "regions": list(decision.approval.regions)}
            tx.insert_request({"id": rid, "proposal_id": pid, "digest": digest,
                               "approvers": decision.approval.approvers, "scope": scope, "state": "pending",
                               "created_at": now, "expires_at": now + self.settings.approval_ttl,
                               "emergency": emergency})
            tx.audit("approval_requested", "system", {"request_id": rid, "proposal_id": pid,
                                                      "approvers": decision.approval.approvers, "scope": scope,
                                                      "emergency": emergency}, now)
        return {"proposal_id": pid, "approval_request_id": rid}

    # ---- reviews --------------------------------------------------------------
    def review(self, reviewer: Principal, request_id: str, verdict: str, reason: str = "") -> dict:
        if verdict not in ("approve", "deny"):
            raise BlastwallError("verdict must be approve or deny", field="verdict")
        now, digests = self.clock(), self._current_digests()
        outcome = self.store.transact(lambda tx: self._review(tx, reviewer, request_id, verdict, reason, now, digests))
        if outcome.get("refused"):
            raise (Conflict if outcome.get("conflict") else Forbidden)(outcome["refused"])
        return outcome

    def _current_digests(self) -> Callable[[dict], str]:
        engine = self.engine
        return lambda prop_row: binding_digest(prop_row["proposal"], engine)

    def _review(self, tx, reviewer: Principal, rid: str, verdict: str, reason: str, now: datetime, digest_of) -> dict:
        req = tx.get_request(rid, for_update=True)
        if req is None:
            raise NotFound(f"no approval request {rid}")
        prop = tx.get_proposal(req["proposal_id"])
        refusal = self._request_unusable(tx, req, prop, now, digest_of)
        if refusal:
            return self._refuse(tx, reviewer, rid, verdict, refusal, now, conflict=True)
        reviewed_by = {r["reviewer"] for r in tx.reviews(rid) if r["accepted"]}
        check = check_reviewer(reviewer, prop, prop["decision"]["impact"], reviewed_by)
        if not check.accepted:
            return self._refuse(tx, reviewer, rid, verdict, check.reason, now)
        tx.insert_review({"request_id": rid, "reviewer": reviewer.name, "verdict": verdict, "accepted": True,
                          "reason": reason, "at": now})
        tx.audit("review", reviewer.name, {"request_id": rid, "verdict": verdict, "reason": reason}, now)
        if verdict == "deny":
            return self._close(tx, req, "vetoed", "denied", reviewer.name, now)
        approvals = 1 + sum(1 for r in tx.reviews(rid) if r["accepted"] and r["verdict"] == "approve"
                            and r["reviewer"] != reviewer.name)
        if approvals < req["approvers"]:
            return {"request_id": rid, "state": "pending", "approvals": approvals, "required": req["approvers"]}
        return self._grant(tx, req, approvals, now)

    def _request_unusable(self, tx, req: dict, prop: dict, now: datetime, digest_of) -> str:
        if req["state"] != "pending":
            return f"request is {req['state']}"
        if now >= req["expires_at"]:
            self._close(tx, req, "expired", "expired", "system", now)
            return "request expired"
        if digest_of(prop) != req["digest"]:
            self._close(tx, req, "void", "void", "system", now)
            return "the inventory or policy changed since the decision; the request is void, propose again"
        return ""

    def _refuse(self, tx, reviewer: Principal, rid: str, verdict: str, why: str, now: datetime,
                conflict: bool = False) -> dict:
        tx.insert_review({"request_id": rid, "reviewer": reviewer.name, "verdict": verdict, "accepted": False,
                          "reason": why, "at": now})
        tx.audit("review_rejected", reviewer.name, {"request_id": rid, "verdict": verdict, "why": why}, now)
        return {"refused": why, "conflict": conflict}

    def _close(self, tx, req: dict, state: str, status: str, by: str, now: datetime) -> dict:
        tx.set_request_state(req["id"], state)
        tx.set_proposal_status(req["proposal_id"], status)
        tx.audit(f"request_{state}", by, {"request_id": req["id"], "proposal_id": req["proposal_id"]}, now)
        return {"request_id": req["id"], "state": state}

    def _grant(self, tx, req: dict, approvals: int, now: datetime) -> dict:
        tx.set_request_state(req["id"], "approved")
        tx.set_proposal_status(req["proposal_id"], "approved")
        gid = new_id("grant")
        expires = now + self.settings.grant_ttl
        tx.insert_grant({"id": gid, "proposal_id": req["proposal_id"], "request_id": req["id"],
                         "digest": req["digest"], "created_at": now, "expires_at": expires})
        tx.audit("grant", "system", {"grant_id": gid, "request_id": req["id"], "proposal_id": req["proposal_id"],
                                     "digest": req["digest"], "expires_at": expires.isoformat()}, now)
        return {"request_id": req["id"], "state": "approved", "approvals": approvals, "grant_id": gid,
                "grant_expires_at": expires.isoformat()}

    # ---- grants and execution ---------------------------------------------------
    def redeem(self, agent: Principal, grant_id: str, doc: dict) -> dict:
        """The agent presents the exact proposal it will run; it must match what was approved."""
        proposal = self._own_proposal(agent, doc)
        engine, now = self.engine, self.clock()
        digest = binding_digest(proposal_doc(proposal), engine)
        decision = self._decide(engine, proposal, now)
        due = self._charges(engine, proposal, decision, now)
        result = self.store.transact(lambda tx: self._redeem(tx, agent, grant_id, digest, decision, due, now))
        if result.get("refused"):
            raise Conflict(result["refused"])
        return result

    def _redeem(self, tx, agent: Principal, gid: str, digest: str, decision: Decision, due: list[Charge],
                now: datetime) -> dict:
        def refuse(why: str) -> dict:
            tx.audit("redeem_refused", agent.name, {"grant_id": gid, "why": why, "digest": digest}, now)
            return {"refused": why}
        if decision.effect is Effect.DENY:
            return refuse("re-checked at redemption and denied: " + "; ".join(r.message for r in decision.reasons))
        for charge in due:
            if not tx.take_budget(charge.key, charge.amount, charge.maximum):
                return refuse(f"over {charge.describe()}")
        if not tx.redeem_grant(gid, digest, now):
            return refuse("grant unknown, already redeemed, expired, void, or for a different plan")
        tx.audit("redeem", agent.name, {"grant_id": gid, "digest": digest}, now)
        return {"grant_id": gid, "redeemed": True, "digest": digest}

    def report_execution(self, agent: Principal, proposal_id: str, outcome: dict) -> dict:
        def work(tx):
            prop = tx.get_proposal(proposal_id)
            if prop is None or prop["agent"] != agent.name:
                raise NotFound(f"no proposal {proposal_id} of {agent.name}")
            tx.set_proposal_status(proposal_id, "executed")
            tx.audit("execution", agent.name, {"proposal_id": proposal_id, "outcome": outcome}, self.clock())
            return {"proposal_id": proposal_id, "recorded": True}
        return self.store.transact(work)

    # ---- kill switch and reload ----------------------------------------------------
    def set_kill_switch(self, human: Principal, scope: str, engaged: bool, reason: str) -> dict:
        if not human.is_human or "kill-switch" not in human.roles:
            raise Forbidden(f"{human.name} may not operate the kill switch")
        if scope != "global" and not scope.startswith(("agent:", "env:")):
            raise BlastwallError("scope is global, agent:NAME or env:NAME", field="scope")
        now = self.clock()

        def work(tx):
            tx.set_kill_switch(scope, engaged, human.name, reason, now)
            voided = 0
            if engaged:
                kind, _, name = scope.partition(":")
                voided = tx.void_grants(f"kill switch {scope}", agent=name if kind == "agent" else None,
                                        env=name if kind == "env" else None)
            tx.audit("kill_switch", human.name, {"scope": scope, "engaged": engaged, "reason": reason,
                                                 "grants_voided": voided}, now)
            return {"scope": scope, "engaged": engaged, "grants_voided": voided}
        result = self.store.transact(work)
        self.metrics.kill_switch(scope, engaged)
        return result

    def reload(self, by: str = "signal") -> dict:
        """Load inventory and policy again; a broken one is refused and the old keeps serving."""
        with self._reload_lock:
            now = self.clock()
            try:
                engine = Engine.load(self.inventory_path, self.policy_path)
            except BlastwallError as exc:
                self.store.transact(lambda tx: tx.audit("reload_failed", by, {"error": str(exc)}, now))
                raise
            self.engine = engine
            revs = self.revisions()
            self.store.transact(lambda tx: tx.audit("reload", by, revs, now))
            return revs

    def revisions(self) -> dict:
        return {"policy_revision": self.engine.policy.revision, "inventory_revision": self.engine.fleet.revision}


def proposal_doc(proposal: Proposal) -> dict:
    """The proposal as stored: interpreted operations, so the binding is to what will run."""
    ops = [{k: v for k, v in asdict(op).items() if v not in (None, False, 0.0, "")} for op in proposal.operations]
    return {"agent": proposal.agent, "operator": proposal.operator, "intent": proposal.intent,
            "operations": [{"verb": str(o.pop("verb")), **o} for o in ops]}


def binding_digest(doc: dict, engine: Engine) -> str:
    """What approvals and grants bind to: the exact operations (``proposal_doc``) plus both revisions."""
    bound = {"agent": doc["agent"], "operations": doc["operations"]}
    canon = json.dumps({"proposal": bound, "policy": engine.policy.revision, "inventory": engine.fleet.revision},
                       sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canon).hexdigest()


def _emergency(decision: Decision) -> Decision:
    """A freeze or closed window may be overridden by more approvers, flagged in the audit log."""
    denies = {r.rule for r in decision.reasons if r.effect is Effect.DENY}
    if not denies or not denies <= OVERRIDABLE:
        return decision
    base = decision.approval.approvers if decision.approval else 1
    reasons = (Reason("emergency-override", Effect.APPROVE,
                      f"Emergency override of {', '.join(sorted(denies))}: {max(2, base + 1)} approvers required."),
               *decision.reasons)
    need = ApprovalRequirement(max(2, base + 1), decision.impact.environments, decision.impact.regions,
                               ("emergency-override",))
    return replace(decision, effect=Effect.APPROVE, reasons=reasons, approval=need,
                   explanation="EMERGENCY OVERRIDE requested. " + decision.explanation)


def _over_budget(decision: Decision, charge: Charge) -> Decision:
    reason = Reason("rate-limit", Effect.DENY, f"Over {charge.describe()}.",
                    "Wait for the window to pass, or batch the work into fewer changes.")
    return replace(decision, effect=Effect.DENY, reasons=(reason, *decision.reasons), approval=None,
                   explanation=f"Denied: over {charge.describe()}. " + decision.explanation)
