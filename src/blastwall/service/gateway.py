"""The governance service's logic, independent of HTTP: decide, record, approve, grant, stop.

Every state change and its audit records are written in one store transaction;
if that fails the request is refused.  Refusals of reviews and grants are
audited too (they commit their audit record, then raise).
"""
from __future__ import annotations

import asyncio
import difflib
import gc
import hashlib
import json
import random
import secrets
import threading
import time
from collections.abc import Mapping          # not typing's: isinstance against it is ~10x slower
from dataclasses import dataclass, fields, replace
from functools import cached_property
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from blastwall.audit.chain import Canonical, canonical_text
from blastwall.core.authority import Principal, check_reviewer
from blastwall.core.limits import Charge, charges
from blastwall.core.model import Decision, Effect, Impact, Operation, Proposal, Verb
from blastwall.core.overrides import emergency_override, over_budget, overrides_approved
from blastwall.core.proposal import parse_proposal
from blastwall.engine import Engine
from blastwall.errors import BlastwallError
from blastwall.service.errors import Conflict, Forbidden, NotFound, Unauthorized
from blastwall.service.metrics import Metrics
from blastwall.service.notify import NullNotifier
from blastwall.service.principals import Directory, load_principals
from blastwall.store.base import Store, Work

SWITCH_REFRESH_S = 1.0       # the cached kill-switch set is re-read at least this often
MAX_REPLANS = 5


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    """An unguessable id (grants)."""
    return f"{prefix}_{secrets.token_hex(8)}"


_IDS = random.Random(secrets.randbits(128))


def record_id(prefix: str) -> str:
    """A unique id for a record (proposals, requests): milliseconds since the epoch, then 64 random
    bits without a system call each.  Time first puts each new id at the end of the id index, so a
    commit dirties one index page, not one a record (a batch of 10 proposals: 60 -> 45 WAL pages).
    A collision would be refused by the primary key, never merged."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{_IDS.getrandbits(64):016x}"


@dataclass(frozen=True)
class Settings:
    approval_ttl: timedelta = timedelta(hours=1)
    grant_ttl: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class _Plan:
    """A proposal decided and ready to be recorded (with its audit records) in one transaction."""
    proposal: Proposal
    doc: dict                      # proposal_doc(proposal): what is stored and bound
    digest: str
    decision: Decision
    due: list[Charge]              # budget charges to take when it is recorded
    now: datetime
    emergency: bool
    switches: frozenset[str]       # the engaged kill switches it was decided with

    @cached_property
    def decision_doc(self) -> dict:
        """decision.to_dict(), made once (replace() makes a new plan, so never a stale one)."""
        return self.decision.to_dict()


    def record(self, approval_ttl: timedelta) -> "ProposalRecord":
        d = self.decision
        scope = ({"environments": list(d.approval.environments), "regions": list(d.approval.regions)}
                 if d.effect is Effect.APPROVE else None)
        return ProposalRecord(self.proposal.agent, self.proposal.operator, self.proposal.intent,
                              canonical_text(self.doc), canonical_text(self.decision_doc), d.impact.environments,
                              str(d.effect), self.digest, d.provenance["policy_revision"],
                              d.provenance["inventory_revision"], d.approval.approvers if scope else 0, scope,
                              tuple(self.due), self.now, self.emergency, self.switches, approval_ttl,
                              unknown_env=unknown_env(self.proposal, d.impact))


@dataclass(frozen=True)
class ProposalRecord:
    """What recording a decided proposal writes, as plain values (a writer process may do it).
    The proposal and decision documents come as canonical JSON, encoded once by the decider."""
    agent: str
    operator: str | None
    intent: str | None
    doc_json: str
    decision_json: str
    envs: tuple[str, ...]
    effect: str
    digest: str
    policy_revision: str
    inventory_revision: str
    approvers: int
    scope: dict | None                 # set when the effect is approve: an approval request is opened
    due: tuple[Charge, ...]
    now: datetime
    emergency: bool
    switches: frozenset[str]
    approval_ttl: timedelta
    unknown_env: bool = True           # its environments cannot all be known (see unknown_env)

    def __reduce__(self):
        """Pickled as plain values (a writer process reads it), times as text: much cheaper than
        pickling aware datetimes."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        now, ttl = values.pop("now"), values.pop("approval_ttl")
        return _proposal_record, (values, now.isoformat(), ttl.total_seconds())


def _proposal_record(values: dict, now: str, ttl_seconds: float) -> ProposalRecord:
    return ProposalRecord(**values, now=datetime.fromisoformat(now), approval_ttl=timedelta(seconds=ttl_seconds))


def record_proposal(tx, rec: ProposalRecord) -> dict:
    """The proposal, its decision and any approval request, with their audit records; raises a
    _Replan (rolling back) when the kill switches changed or a budget is exhausted.  A proposal
    the same as one whose request is still live (same digest and requirement) joins that request
    (status 'duplicate'): an agent retrying does not file request after request."""
    switches = engaged(tx.kill_switches())
    if switches != rec.switches:
        raise _SwitchesChanged(switches)
    for charge in rec.due:
        if not tx.take_budget(charge.key, charge.amount, charge.maximum):
            raise _OverBudget(charge)
    now, pid = rec.now, record_id("prop")
    joined = tx.live_request(rec.digest, rec.approvers, rec.emergency, now) if rec.scope is not None else None
    rid = joined or (record_id("req") if rec.scope is not None else None)
    doc, decision = Canonical(rec.doc_json), Canonical(rec.decision_json)
    status = "duplicate" if joined else {"allow": "allowed", "approve": "pending", "deny": "denied"}[rec.effect]
    tx.insert_proposal({
        "id": pid, "agent": rec.agent, "operator": rec.operator, "intent": rec.intent, "proposal": doc,
        "decision": decision, "envs": list(rec.envs), "unknown_env": rec.unknown_env,
        "effect": rec.effect, "digest": rec.digest,
        "policy_revision": rec.policy_revision, "inventory_revision": rec.inventory_revision,
        "status": status, "created_at": now})
    tx.audit("proposal", rec.agent, {"proposal_id": pid, "proposal": doc, "digest": rec.digest,
                                     "emergency": rec.emergency, **({"joins_request": joined} if joined else {})}, now)
    tx.audit("decision", "system", {"proposal_id": pid, "decision": decision}, now)
    if joined:                  # the same change asked again: the humans already have it in front of them
        return {"proposal_id": pid, "approval_request_id": joined, "joined": True}
    if rid:
        tx.insert_request({"id": rid, "proposal_id": pid, "digest": rec.digest, "approvers": rec.approvers,
                           "scope": rec.scope, "state": "pending", "created_at": now,
                           "expires_at": now + rec.approval_ttl, "emergency": rec.emergency})
        tx.audit("approval_requested", "system", {"request_id": rid, "proposal_id": pid,
                                                  "approvers": rec.approvers, "scope": rec.scope,
                                                  "emergency": rec.emergency}, now)
    return {"proposal_id": pid, "approval_request_id": rid, "joined": False}


class _Replan(Exception):
    """Raised inside the record transaction (rolling it back): decide or record differently."""


class _OverBudget(_Replan):
    def __init__(self, charge: Charge):
        super().__init__(charge)          # args make it picklable (a writer process raises it)
        self.charge = charge


class _RedeemRefused(Exception):
    def __init__(self, why: str):
        self.why = why


class _SwitchesChanged(_Replan):
    def __init__(self, switches: frozenset[str]):
        super().__init__(switches)
        self.switches = switches


def _approved_decision(tx, grant_id: str) -> dict | None:
    """The decision document the humans approved for this grant."""
    grant = tx.get_grant(grant_id)
    prop = tx.get_proposal(grant["proposal_id"]) if grant else None
    return (prop or {}).get("decision")


def covering_switch(switches: frozenset[str], agent: str, envs=(), unknown_env: bool = False) -> str:
    """The engaged switch that stops this agent's change to these environments (global, the agent,
    one of the environments), or "".  A change whose environments cannot all be known
    (``unknown_env``, see below) may touch any environment: every engaged env:NAME switch covers
    it (fail closed)."""
    scopes = ["global", f"agent:{agent}", *(f"env:{e}" for e in envs)]
    found = next((scope for scope in scopes if scope in switches), "")
    if not found and unknown_env:
        found = min((scope for scope in switches if scope.startswith("env:")), default="")
    return found


def unknown_env(proposal: Proposal, impact: Impact) -> bool:
    """Whether the change does more than read and has targets the inventory does not know (a
    command without its --context, an opaque command): then its environments are not known."""
    return bool(impact.unknown_targets) and any(op.verb is not Verb.READ for op in proposal.operations)


def _shown(value: Any, limit: int = 500) -> Any:
    """An untrusted value as an audit record can hold it: canonical JSON that is valid UTF-8 (lone
    surrogates escaped), cut to ``limit`` characters when long."""
    if isinstance(value, str):
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= limit else text[:limit] + "..."
    try:
        text = canonical_text(value)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        return ascii(value)[:limit]
    return value if len(text) <= limit else text[:limit] + "..."


def _few(names, n: int = 8) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "") if names else "none"


def engaged(switches: dict[str, dict]) -> frozenset[str]:
    return frozenset(k for k, v in switches.items() if v["engaged"])


class Gateway:
    def __init__(self, inventory: str | Path, policy: str | Path | None, store: Store, principals: Directory,
                 clock: Callable[[], datetime] = utcnow, settings: Settings = Settings(), notifier=None,
                 principals_file: str | Path | None = None):
        """``principals_file``: where ``principals`` came from; a reload reads it again (a token revoked
        there stops working without a restart)."""
        self.inventory_path, self.policy_path, self.principals_file = inventory, policy, principals_file
        self.generation = store.reload_generation()    # read before the files: a reload meanwhile is followed
        self.engine = Engine.load(inventory, policy)
        self.store, self.principals, self.clock, self.settings = store, principals, clock, settings
        self.metrics = Metrics()
        self.notifier = notifier or NullNotifier()     # called after commits; never blocks
        self._reload_lock = threading.Lock()
        self._switches: tuple[frozenset[str], float] = frozenset(), float("-inf")    # (engaged, read at)

    # ---- identity -------------------------------------------------------------
    def authenticate(self, token: str | None, what: str) -> Principal:
        principal = self.principals.authenticate(token)
        if principal is None:
            self.store.transact(self._auth_failure(token, what))
            raise Unauthorized("missing or invalid bearer token")
        return principal

    async def authenticate_async(self, token: str | None, what: str) -> Principal:
        principal = self.principals.authenticate(token)
        if principal is None:
            await self.store.transact_async(self._auth_failure(token, what))
            raise Unauthorized("missing or invalid bearer token")
        return principal

    def _auth_failure(self, token: str | None, what: str) -> Callable:
        now = self.clock()
        return lambda tx: tx.audit("auth_failure", "anonymous", {"request": what, "token_given": bool(token)}, now)

    # ---- proposals ------------------------------------------------------------
    def propose(self, agent: Principal, doc: dict, emergency: bool = False) -> dict:
        """``propose_async`` for callers without an event loop (tests, in-process benchmarks)."""
        return asyncio.run(self.propose_async(agent, doc, emergency))

    async def propose_async(self, agent: Principal, doc: dict, emergency: bool = False) -> dict:
        """``propose`` for the event loop: the durable commit is awaited, not waited for in a thread."""
        plan = self._plan(agent, doc, emergency)
        for _ in range(MAX_REPLANS):
            try:
                return self._proposed(plan, await self.store.transact_async(self._recording(plan)))
            except _Replan as why:
                plan = self._replan(plan, why)
        raise Conflict("the kill switches kept changing while recording this proposal; propose again")

    def _plan(self, agent: Principal, doc: dict, emergency: bool) -> _Plan:
        if agent.kind != "agent":
            raise Forbidden("only agents propose changes; humans review them")
        proposal = self._own_proposal(agent, doc)
        return self._decided(proposal, self.clock(), emergency, self._engaged())

    def _decided(self, proposal: Proposal, now: datetime, emergency: bool, switches: frozenset[str]) -> _Plan:
        engine = self.engine
        with self.metrics.timer():
            decision = self._decide(engine, proposal, now, switches)
        if emergency:
            decision = emergency_override(decision)
        doc = proposal_doc(proposal)
        due = self._charges(engine, proposal, decision, now) if decision.effect is Effect.ALLOW else []
        return _Plan(proposal, doc, binding_digest(doc, engine), decision, due, now, emergency, switches)

    def _recording(self, plan: _Plan) -> Work:
        return Work(record_proposal, (plan.record(self.settings.approval_ttl),))

    def _replan(self, plan: _Plan, why: _Replan) -> _Plan:
        if isinstance(why, _OverBudget):
            decision = over_budget(plan.decision, why.charge)
            return replace(plan, decision=decision, due=[])
        self._switches = why.switches, time.monotonic()
        return self._decided(plan.proposal, plan.now, plan.emergency, why.switches)

    def _proposed(self, plan: _Plan, ids: dict) -> dict:
        if ids["approval_request_id"] and not ids["joined"]:
            self.notifier.approval_requested(ids, plan.proposal, plan.decision_doc,
                                            plan.now + self.settings.approval_ttl)
        self.metrics.decided(plan.decision, plan.proposal.agent, bool(plan.due))
        return {**ids, "digest": plan.digest, "decision": plan.decision_doc}

    def _own_proposal(self, agent: Principal, doc: Any) -> Proposal:
        if not isinstance(doc, dict):
            raise BlastwallError("the body must be a proposal object")
        if doc.get("agent", agent.name) != agent.name:
            raise Forbidden(f"authenticated as {agent.name}, cannot propose as {doc.get('agent')!r}")
        return parse_proposal({**doc, "agent": agent.name, "operator": agent.operator})

    def _engaged(self) -> frozenset[str]:
        """Engaged kill switches as last seen (re-read at most every SWITCH_REFRESH_S).  A guess only:
        every record re-reads them in its own transaction and the decision is redone if they differ."""
        switches, read_at = self._switches
        if time.monotonic() - read_at > SWITCH_REFRESH_S:
            switches = engaged(self.store.kill_switches())
            self._switches = switches, time.monotonic()
        return switches

    def _decide(self, engine: Engine, proposal: Proposal, now: datetime, switches: frozenset[str]) -> Decision:
        killed = bool(covering_switch(switches, proposal.agent))
        decision = engine.decide(proposal, now=now, kill_switch=killed)
        if not killed and switches and covering_switch(switches, proposal.agent, decision.impact.environments,
                                                       unknown_env(proposal, decision.impact)):
            decision = engine.decide(proposal, now=now, kill_switch=True)
        return decision

    def _charges(self, engine: Engine, proposal: Proposal, decision: Decision, now: datetime) -> list[Charge]:
        if all(op.verb == "read" for op in proposal.operations):
            return []
        return charges(engine.policy.limits, proposal.agent, decision.impact.to_dict(), now)

    # ---- reviews --------------------------------------------------------------
    def review(self, reviewer: Principal, request_id: str, verdict: str, reason: str | None = "") -> dict:
        now = self.clock()
        reason = "" if reason is None else reason
        bad = (BlastwallError("verdict must be approve or deny", field="verdict")
               if not isinstance(verdict, str) or verdict not in ("approve", "deny") else
               BlastwallError("reason must be a string", field="reason") if not isinstance(reason, str) else None)
        if bad is not None:                 # refused before any request is read: audited all the same
            self.store.transact(lambda tx: tx.audit("review_rejected", reviewer.name, {
                "request_id": _shown(request_id), "verdict": _shown(verdict), "why": bad.message}, now))
            raise bad
        digests = self._current_digests()
        outcome = self.store.transact(lambda tx: self._review(tx, reviewer, request_id, verdict, reason, now, digests))
        if outcome.get("refused"):
            kind = NotFound if outcome.get("not_found") else Conflict if outcome.get("conflict") else Forbidden
            raise kind(outcome["refused"])
        return outcome

    def _current_digests(self) -> Callable[[dict], str]:
        engine = self.engine
        return lambda prop_row: binding_digest(prop_row["proposal"], engine)

    def _review(self, tx, reviewer: Principal, rid: str, verdict: str, reason: str, now: datetime, digest_of) -> dict:
        req = tx.get_request(rid, for_update=True)
        if req is None:                     # audited and committed, then 404 (no review row: no request)
            why = f"no approval request {_shown(rid, 200)}"
            tx.audit("review_rejected", reviewer.name, {"request_id": _shown(rid), "verdict": verdict,
                                                        "why": why}, now)
            return {"refused": why, "not_found": True}
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
        return self._grant(tx, req, prop, approvals, now)

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

    def _grant(self, tx, req: dict, prop: dict, approvals: int, now: datetime) -> dict:
        tx.set_request_state(req["id"], "approved")
        tx.set_proposal_status(req["proposal_id"], "approved")
        gid = new_id("grant")
        expires = now + self.settings.grant_ttl
        tx.insert_grant({"id": gid, "proposal_id": req["proposal_id"], "request_id": req["id"],
                         "digest": req["digest"], "created_at": now, "expires_at": expires})
        tx.audit("grant", "system", {"grant_id": gid, "request_id": req["id"], "proposal_id": req["proposal_id"],
                                     "digest": req["digest"], "expires_at": expires.isoformat()}, now)
        stopped = covering_switch(engaged(tx.kill_switches()), prop["agent"], prop.get("envs") or (),
                                  prop.get("unknown_env") is not False)
        if stopped:             # issued while a kill switch covers it: void at once, like every other grant
            tx.void_grant(gid, f"kill switch {stopped}")
            tx.audit("grant_voided", "system", {"grant_id": gid, "reason": f"kill switch {stopped}"}, now)
        return {"request_id": req["id"], "state": "approved", "approvals": approvals, "grant_id": gid,
                "grant_expires_at": expires.isoformat(), **({"grant_void": f"kill switch {stopped}"} if stopped else {})}

    # ---- grants and execution ---------------------------------------------------
    def redeem(self, agent: Principal, grant_id: str, doc: dict) -> dict:
        """The agent presents the exact proposal it will run; it must match what was approved."""
        now = self.clock()
        try:
            proposal = self._own_proposal(agent, doc)
        except BlastwallError as exc:       # not another agent's, not malformed: audited, then raised
            self.store.transact(lambda tx: tx.audit("redeem_refused", agent.name, {
                "grant_id": _shown(grant_id), "why": _shown(exc.message)}, now))
            raise
        engine = self.engine
        digest = binding_digest(proposal_doc(proposal), engine)
        switches = self._engaged()
        for _ in range(MAX_REPLANS):
            decision = self._decide(engine, proposal, now, switches)
            due = self._charges(engine, proposal, decision, now)
            try:
                result = self.store.transact(
                    lambda tx: self._redeem(tx, agent, grant_id, digest, decision, due, now, switches))
                break
            except _SwitchesChanged as why:
                switches = why.switches
                self._switches = switches, time.monotonic()
            except _RedeemRefused as refused:     # rolled back (no budget spent); the refusal is audited
                self.store.transact(lambda tx: tx.audit("redeem_refused", agent.name, {
                    "grant_id": grant_id, "why": refused.why, "digest": digest}, now))
                raise Conflict(refused.why) from None
        else:
            raise Conflict("the kill switches kept changing while redeeming; try again")
        return result

    def _redeem(self, tx, agent: Principal, gid: str, digest: str, decision: Decision, due: list[Charge],
                now: datetime, switches: frozenset[str]) -> dict:
        now_engaged = engaged(tx.kill_switches())
        if now_engaged != switches:
            raise _SwitchesChanged(now_engaged)
        if overrides_approved(decision, _approved_decision(tx, gid)):   # not a fresh denial
            decision = emergency_override(decision)

        if decision.effect is Effect.DENY:
            raise _RedeemRefused("re-checked at redemption and denied: "
                                 + "; ".join(r.message for r in decision.reasons))
        for charge in due:
            if not tx.take_budget(charge.key, charge.amount, charge.maximum):
                raise _RedeemRefused(f"over {charge.describe()}")
        if not tx.redeem_grant(gid, digest, now):
            raise _RedeemRefused("grant unknown, already redeemed, expired, void, or for a different plan")
        grant = tx.get_grant(gid)
        tx.audit("redeem", agent.name, {"grant_id": gid, "digest": digest}, now)
        return {"grant_id": gid, "redeemed": True, "digest": digest,
                "proposal_id": grant["proposal_id"], "request_id": grant["request_id"]}

    def report_execution(self, agent: Principal, proposal_id: str, outcome: dict) -> dict:
        """Only what may run is reported run: a proposal allowed (or already reported, once allowed)
        or one whose grant was redeemed.  A refusal is audited, then raised; the status stays."""
        now = self.clock()

        def work(tx):
            prop = tx.get_proposal(proposal_id)
            if prop is None or prop["agent"] != agent.name:
                refusal = NotFound(f"no proposal {_shown(proposal_id, 200)} of {agent.name}")
            elif not (prop["status"] == "allowed" or (prop["status"] == "executed" and prop["effect"] == "allow")
                      or tx.redeemed_grant(proposal_id)):
                refusal = Conflict(f"proposal {proposal_id} is {prop['status']}: only an allowed proposal, or one "
                                   "whose grant was redeemed, may be reported executed")
            else:
                tx.set_proposal_status(proposal_id, "executed")
                tx.audit("execution", agent.name, {"proposal_id": proposal_id, "outcome": outcome}, now)
                return {"proposal_id": proposal_id, "recorded": True}
            tx.audit("execution_refused", agent.name, {"proposal_id": _shown(proposal_id), "why": refusal.message,
                                                       "status": prop["status"] if prop and prop["agent"] == agent.name
                                                       else None, "outcome": _shown(outcome)}, now)
            return refusal
        result = self.store.transact(work)
        if isinstance(result, BlastwallError):
            raise result
        return result

    # ---- kill switch and reload ----------------------------------------------------
    def switch_scopes(self) -> frozenset[str]:
        """The kill-switch scopes that stop something: global, env:NAME for each environment of the
        loaded inventory, agent:NAME for each declared agent."""
        envs = self.engine.fleet.column("env").vocab
        agents = (n for n, p in self.principals.by_name.items() if p.kind == "agent")
        return frozenset({"global", *(f"env:{e}" for e in envs if e), *(f"agent:{a}" for a in agents)})

    def _switch_refusal(self, tx, human: Principal, scope: Any, engaged: Any, reason: Any,
                        known: frozenset[str]) -> BlastwallError | None:
        """Why this kill-switch change is refused, or None.  A scope must be exactly one that stops
        something (``switch_scopes``): one that matches nothing would say engaged and stop nothing.
        Releasing accepts any scope stored (one engaged under a name no longer known)."""
        if not human.is_human or "kill-switch" not in human.roles:
            return Forbidden(f"{human.name} may not operate the kill switch")
        if not isinstance(engaged, bool):
            given = canonical_text(_shown(engaged, 60))
            return BlastwallError(f"engaged must be true or false (a JSON boolean), not {given}", field="engaged")
        if not isinstance(reason, str):
            return BlastwallError("reason must be a string", field="reason")
        if not isinstance(scope, str):
            return BlastwallError("scope must be a string: global, env:NAME or agent:NAME", field="scope")
        if scope in known or (not engaged and scope in tx.kill_switches()):
            return None
        close = difflib.get_close_matches(scope[:100].strip().casefold(), known, n=1, cutoff=0.8)
        envs = [s.removeprefix("env:") for s in known if s.startswith("env:")]
        agents = [s.removeprefix("agent:") for s in known if s.startswith("agent:")]
        return BlastwallError(f"unknown scope {ascii(scope[:200])}{f' (did you mean {close[0]}?)' if close else ''}: "
                              f"a scope is global, env:NAME with an environment of the inventory ({_few(envs)}) "
                              f"or agent:NAME with a declared agent ({_few(agents)}), exactly", field="scope")

    def set_kill_switch(self, human: Principal, scope: str, engaged: bool, reason: str) -> dict:
        """Engage or release one switch.  Every argument is checked as given (the HTTP route passes
        the JSON values through): a refusal is audited, then raised."""
        now, known = self.clock(), self.switch_scopes()

        def work(tx):
            refusal = self._switch_refusal(tx, human, scope, engaged, reason, known)
            if refusal is not None:         # audited and committed, then raised
                tx.audit("kill_switch_refused", human.name, {"scope": _shown(scope), "engaged": _shown(engaged),
                                                             "reason": _shown(reason), "why": refusal.message}, now)
                return refusal
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
        if isinstance(result, BlastwallError):
            raise result
        self._switches = frozenset(), float("-inf")          # re-read before the next decision
        self.notifier.kill_switch_changed(result, human.name, reason)
        self.metrics.kill_switch(scope, engaged)
        return result

    def reload(self, by: str = "signal", *, follow: bool = False) -> dict:
        """Load inventory, policy and principals again; a broken one is refused and the old keep
        serving.  A reload counts one more generation in the store, and every other process on
        that store (workers, replicas) follows it (``follow_reloads``): ``follow`` is such a
        reload, recorded only when it changed something here."""
        with self._reload_lock:
            now, seen = self.clock(), self.store.reload_generation()
            try:
                engine = Engine.load(self.inventory_path, self.policy_path)
                principals = load_principals(self.principals_file) if self.principals_file else self.principals
            except BlastwallError as exc:
                self.store.transact(lambda tx: tx.audit("reload_failed", by, {"error": str(exc)}, now))
                raise
            revs = _revisions(engine, principals)
            if follow and revs == self.revisions():
                return revs
            self.engine, self.principals = engine, principals
            settle_heap()                  # the old engine goes; the new one joins what collections skip

            def record(tx):
                tx.audit("reload", by, revs, now)
                return None if follow else tx.bump_reload_generation()
            generation = self.store.transact(record)
            if generation == seen + 1:         # no other reload since the files were read: nothing to follow
                self.generation = max(self.generation, generation)
            return revs

    def follow_reloads(self) -> bool:
        """Reload if another process on this store reloaded since this one last looked (called
        every RELOAD_FOLLOW_S by the service); True when it did (or tried)."""
        generation = self.store.reload_generation()
        if generation <= self.generation:
            return False
        self.generation = generation            # once per generation, even if this reload fails
        self.reload(by="follow", follow=True)
        return True

    def revisions(self) -> dict:
        return _revisions(self.engine, self.principals)


def _revisions(engine: Engine, principals: Directory) -> dict:
    revs = {"policy_revision": engine.policy.revision, "inventory_revision": engine.fleet.revision}
    if principals.revision:
        revs["principals_revision"] = principals.revision
    return revs


def settle_heap() -> None:
    """Move everything alive now (the loaded fleet, policy, app) out of the collector's sight: a
    full collection over it took ~45 ms per run in a loaded service, a pause every request queued
    behind it waited out (the p99)."""
    gc.collect()
    gc.freeze()


def proposal_doc(proposal: Proposal) -> dict:
    """The proposal as stored: the interpreted operations, and the artifact exactly as given (argv,
    command, or a plan's digest), so the binding is to what was read and to what will run."""
    doc = {"agent": proposal.agent, "operator": proposal.operator, "intent": proposal.intent,
           "operations": [_operation_doc(op) for op in proposal.operations]}
    if proposal.artifact:
        doc["artifact"] = {"kind": proposal.source, "exact": proposal.artifact}
    return doc


_OPERATION_FIELDS = tuple(f.name for f in fields(Operation) if f.name != "verb")


def _operation_doc(op: Operation) -> dict:
    """The verb, then every field that is set (what ``asdict`` gave, without its deep copy)."""
    doc = {"verb": str(op.verb)}
    for name in _OPERATION_FIELDS:
        value = getattr(op, name)
        if value not in (None, False, 0.0, ""):
            doc[name] = dict(value) if isinstance(value, Mapping) else value
    return doc


def binding_digest(doc: dict, engine: Engine) -> str:
    """What approvals and grants bind to: the exact operations and artifact (``proposal_doc``) plus
    both revisions."""
    bound = {"agent": doc["agent"], "operations": doc["operations"], "artifact": doc.get("artifact")}
    canon = json.dumps({"proposal": bound, "policy": engine.policy.revision, "inventory": engine.fleet.revision},
                       sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canon).hexdigest()
