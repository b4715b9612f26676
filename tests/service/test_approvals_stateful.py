"""Approvals as a state machine: hypothesis drives the in-process Gateway (propose, review, redeem,
kill switch, the clock) against a small model of what each step must answer, and checks the
store's invariants after every step:

1. per (digest, approvers, emergency) at most one live request (pending and unexpired, or approved
   with its grant unspent, unvoided and unexpired), and it is the one the model expects;
2. a proposal answered ``joined: true`` is stored as 'duplicate' and names a request with its
   digest and requirement; no other request, no other notification, is made;
3. a grant is redeemed at most once, and only by the proposing agent for the exact change, before
   it expires, with no kill switch covering it, after the request's quorum of distinct eligible
   humans (neither the agent nor its operator);
4. every accepted review came from a human whose authority covers the computed impact;
5. the audit chain verifies against the store's head;
6. no request is approved while an eligible reviewer's deny stands on it (the deny vetoes).

Two variants add a freeze with emergency overrides and a strict kill switch (see below).
"""
from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from blastwall.audit.chain import verify
from blastwall.errors import BlastwallError
from blastwall.service.errors import Conflict, Forbidden
from blastwall.service.gateway import Gateway
from blastwall.service.notify import NullNotifier
from blastwall.store.base import open_store
from tests.conftest import SAMPLE_FLEET
from tests.service.conftest import Clock, directory

APPROVAL_TTL = timedelta(hours=1)         # Settings() defaults
GRANT_TTL = timedelta(minutes=15)
AGENTS = ("kiro-ops-7", "coder-1")
OPERATOR = {"kiro-ops-7": "alice", "coder-1": "jason"}
HUMANS = ("alice", "bob", "carol", "erin", "root")
REVIEWERS = HUMANS + ("kiro-ops-7",)          # an agent reviewing is refused too
SWITCH_OPERATORS = ("bob", "root", "carol")   # carol lacks the kill-switch role
SWITCHES = ("global", "agent:kiro-ops-7", "agent:coder-1", "env:prod", "env:dev")


@dataclass(frozen=True)
class Change:
    """A change on the sample fleet and what the recommended policy makes of it (checked below)."""
    doc: dict
    effect: str                 # allow | approve | deny, outside freezes and kill switches
    approvers: int              # when effect is approve
    env: str
    region: str | None
    may_approve: frozenset[str]  # humans whose authority covers its computed impact


CN = frozenset({"alice", "bob", "carol", "root"})
EU = frozenset({"erin", "root"})
CHANGES = {
    "restart-dev": Change({"operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]},
                          "allow", 0, "dev", "us-east-1", frozenset({"root"})),
    "ns-cn": Change({"argv": ["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"]},
                    "approve", 1, "prod", "cn-north-1", CN),
    "db-cn": Change({"operations": [{"verb": "delete", "target": "db/orders-prod-cn-north-1"}]},
                    "approve", 2, "prod", "cn-north-1", CN),
    "ns-eu": Change({"argv": ["kubectl", "delete", "namespace", "payments", "--context", "prod-eu-west-1"]},
                    "approve", 1, "prod", "eu-west-1", EU),
    "db-eu": Change({"operations": [{"verb": "delete", "target": "db/orders-prod-eu-west-1"}]},
                    "approve", 2, "prod", "eu-west-1", EU),
    "kiro": Change({"operations": [{"verb": "delete", "target": "env/prod-cn"},
                                   {"verb": "create", "target": "env/prod-cn"}]},
                   "deny", 0, "prod", None, CN),
}
INTENTS = ("clean up", "retrying", "still need it")      # not bound: the same change asked again

# the freeze variant: prod frozen from 10:01 to 12:31 on the machine's day (the clock starts at 10:00, so
# what is proposed before the first wait is not frozen)
FREEZE_START = datetime(2026, 3, 4, 10, 1, tzinfo=timezone.utc)
FREEZE_END = datetime(2026, 3, 4, 12, 31, tzinfo=timezone.utc)
FREEZE_POLICY = ("version: 1\nextends: recommended\nfreezes:\n  - name: prod-freeze\n"
                 f"    start: {FREEZE_START.isoformat()}\n    end: {FREEZE_END.isoformat()}\n"
                 "    scope: {env: prod}\n")
STEPS = [timedelta(minutes=m) for m in (1, 5, 14, 15, 16, 30, 45, 59, 60, 61, 90, 180)]


def covering(agent: str, change: Change) -> set[str]:
    """The kill switches that stop ``agent`` making ``change``."""
    return {"global", f"agent:{agent}", f"env:{change.env}"}


class Recorder(NullNotifier):
    def __init__(self):
        self.requested: list[str] = []

    def approval_requested(self, ids, proposal, decision, expires_at) -> None:
        self.requested.append(ids["approval_request_id"])


@dataclass
class Req:
    rid: str
    agent: str
    change: str
    digest: str
    approvers: int
    emergency: bool
    expires: datetime
    overrides_freeze: bool = False            # an emergency override opened during the freeze
    state: str = "pending"                    # pending | approved | vetoed | expired
    accepted: dict[str, str] = field(default_factory=dict)      # reviewer -> verdict
    grant: str | None = None


@dataclass
class Grant:
    gid: str
    rid: str
    agent: str
    change: str
    digest: str
    expires: datetime
    redeemed: bool = False
    voided: bool = False


@dataclass
class Prop:
    pid: str
    agent: str
    change: str
    effect: str
    rid: str | None
    joined: bool
    digest: str
    approvers: int
    emergency: bool


class Approvals(RuleBasedStateMachine):
    """The model answers every step before the gateway does; the store is checked after it."""

    FREEZE = False          # run with FREEZE_POLICY (emergency overrides of a prod freeze)
    STRICT_KILL = False     # a grant issued while a kill switch covering it is engaged is void

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="bw-stateful-"))
        policy = None
        if self.FREEZE:
            policy = self.tmp / "policy.yaml"
            policy.write_text(FREEZE_POLICY)
        self.store = open_store(f"sqlite:///{self.tmp / 'bw.db'}")
        self.store.migrate()
        self.clock = Clock()
        self.notifier = Recorder()
        self.gw = Gateway(SAMPLE_FLEET, policy, self.store, directory(), clock=self.clock, notifier=self.notifier)
        self.p = self.gw.principals.by_name
        self.props: list[Prop] = []
        self.reqs: dict[str, Req] = {}
        self.grants: dict[str, Grant] = {}
        self.engaged: set[str] = set()
        self.digests: dict[tuple[str, str], str] = {}

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the model --------------------------------------------------------------------
    def frozen(self, change: Change) -> bool:
        return self.FREEZE and change.env == "prod" and FREEZE_START <= self.clock.now < FREEZE_END

    def expected_decision(self, agent: str, change: Change, emergency: bool) -> tuple[str, int]:
        if self.engaged & covering(agent, change):
            return "deny", 0                                 # nothing here is a read
        if self.frozen(change):
            if emergency and change.effect != "deny":        # a freeze deny alone may be overridden
                return "approve", max(2, change.approvers + 1)
            return "deny", 0
        return change.effect, change.approvers

    def request_live(self, req: Req) -> bool:
        now = self.clock.now
        if req.state == "pending":
            return now < req.expires
        if req.state == "approved":
            g = self.grants[req.grant]
            return not g.redeemed and not g.voided and now < g.expires
        return False

    def live_for(self, agent: str, change: str, approvers: int, emergency: bool) -> Req | None:
        live = [r for r in self.reqs.values() if (r.agent, r.change, r.approvers, r.emergency)
                == (agent, change, approvers, emergency) and self.request_live(r)]
        assert len(live) <= 1, live
        return live[0] if live else None

    def redeemable(self, g: Grant, agent: str, change: str) -> bool:
        req = self.reqs[g.rid]
        chg = CHANGES[g.change]
        return (not g.redeemed and not g.voided and self.clock.now < g.expires
                and agent == g.agent and change == g.change
                and not (self.engaged & covering(agent, chg))
                and (not self.frozen(chg) or req.overrides_freeze))   # the override approved is the override run

    # ---- rules ----------------------------------------------------------------------
    @initialize()
    def start(self):
        assert self.store.audit_head()[0] == 0

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(list(CHANGES)), intent=st.sampled_from(INTENTS),
          emergency=st.booleans())
    def propose(self, agent, name, intent, emergency):
        self._propose(agent, name, intent, emergency)

    @precondition(lambda self: any(p.effect == "approve" for p in self.props))
    @rule(pick=st.integers(0, 63), intent=st.sampled_from(INTENTS))
    def propose_again(self, pick, intent):
        """An agent retrying a change that needed approval (mostly the latest one)."""
        asked = [p for p in self.props if p.effect == "approve"]
        p = asked[-1 - pick % len(asked)]
        self._propose(p.agent, p.change, intent, p.emergency)

    def _propose(self, agent: str, name: str, intent: str, emergency: bool) -> None:
        change = CHANGES[name]
        effect, approvers = self.expected_decision(agent, change, emergency)
        joins = self.live_for(agent, name, approvers, emergency) if effect == "approve" else None
        out = self.gw.propose(self.p[agent], {"intent": intent, **change.doc}, emergency=emergency)
        decision = out["decision"]
        assert decision["effect"] == effect, (name, decision["explanation"])
        digest = self.digests.setdefault((agent, name), out["digest"])
        assert out["digest"] == digest
        assert len(set(self.digests.values())) == len(self.digests)       # one digest per agent and change
        if effect != "approve":
            assert out["approval_request_id"] is None and out["joined"] is False
        else:
            assert decision["approval"]["approvers"] == approvers
            if joins is not None:
                assert out["joined"] is True and out["approval_request_id"] == joins.rid
                event(f"joined a {joins.state} request")
            else:
                assert out["joined"] is False and out["approval_request_id"] not in self.reqs
                self.reqs[out["approval_request_id"]] = Req(
                    out["approval_request_id"], agent, name, digest, approvers, emergency,
                    self.clock.now + APPROVAL_TTL, overrides_freeze=emergency and self.frozen(change))
                if emergency and self.frozen(change):
                    event("emergency override requested")
        self.props.append(Prop(out["proposal_id"], agent, name, effect, out["approval_request_id"], out["joined"],
                               digest, approvers, emergency))

    @precondition(lambda self: self.reqs)
    @rule(pick=st.integers(0, 63), chooser=st.integers(0, 9), anyone=st.sampled_from(REVIEWERS),
          deny=st.integers(0, 5))
    def review(self, pick, chooser, anyone, deny):
        """Any request (mostly the newest), mostly by someone who may review it, mostly approving."""
        req = list(self.reqs.values())[-1 - pick % len(self.reqs)]
        self._review(req, self._reviewer(req, chooser, anyone), "deny" if deny == 5 else "approve")

    @precondition(lambda self: any(r.state == "pending" and self.clock.now < r.expires for r in self.reqs.values()))
    @rule(pick=st.integers(0, 63), chooser=st.integers(0, 9), anyone=st.sampled_from(REVIEWERS))
    def approve_pending(self, pick, chooser, anyone):
        """Push an open request towards its quorum (so that grants get issued, joined, spent)."""
        pending = [r for r in self.reqs.values() if r.state == "pending" and self.clock.now < r.expires]
        req = pending[-1 - pick % len(pending)]
        self._review(req, self._reviewer(req, chooser, anyone), "approve")

    def _reviewer(self, req: Req, chooser: int, anyone: str) -> str:
        may = sorted(CHANGES[req.change].may_approve - {req.agent, OPERATOR[req.agent]} - set(req.accepted))
        return may[chooser % len(may)] if may and chooser < 8 else anyone

    def _review(self, req: Req, reviewer: str, verdict: str) -> None:
        now = self.clock.now
        refused = None
        if req.state != "pending":
            refused = Conflict
        elif now >= req.expires:
            refused, req.state = Conflict, "expired"
        elif (reviewer not in HUMANS or reviewer in (req.agent, OPERATOR[req.agent]) or reviewer in req.accepted
              or reviewer not in CHANGES[req.change].may_approve):
            refused = Forbidden
        if refused is not None:
            with pytest.raises(BlastwallError) as err:
                self.gw.review(self.p[reviewer], req.rid, verdict)
            assert type(err.value) is refused, err.value
            event(f"review refused: {refused.__name__}")
            return
        out = self.gw.review(self.p[reviewer], req.rid, verdict)
        req.accepted[reviewer] = verdict
        if verdict == "deny":
            req.state = "vetoed"
            event("request vetoed")
            assert out["state"] == "vetoed"
            return
        approvals = sum(v == "approve" for v in req.accepted.values())
        if approvals < req.approvers:
            assert out["state"] == "pending" and out["approvals"] == approvals
            return
        assert out["state"] == "approved" and out["approvals"] == req.approvers and out["grant_id"] not in self.grants
        req.state, req.grant = "approved", out["grant_id"]
        event("override approved" if req.overrides_freeze else "request approved")
        voided = False
        if self.engaged & covering(req.agent, CHANGES[req.change]):
            # Issued under a kill switch that covers it: redemption is refused while the switch is
            # engaged either way (rule 3).  Whether the grant is void from the start (issue 3: "every
            # unredeemed grant is void") the STRICT_KILL variant demands; otherwise the model takes
            # what the store chose and holds the gateway to it from here on.
            event("grant issued under a kill switch")
            row = self.store.read(lambda tx: tx.get_grant(req.grant))
            voided = self.STRICT_KILL or row["void_reason"] is not None
        self.grants[req.grant] = Grant(req.grant, req.rid, req.agent, req.change, req.digest, now + GRANT_TTL,
                                       voided=voided)

    @precondition(lambda self: self.grants)
    @rule(pick=st.integers(0, 63), wrong_agent=st.integers(0, 4), other=st.sampled_from(sorted(CHANGES)),
          other_change=st.integers(0, 4))
    def redeem(self, pick, wrong_agent, other, other_change):
        """Mostly the newest grants, mostly by their agent for their change."""
        g = list(self.grants.values())[-1 - pick % len(self.grants)]
        agent = next(a for a in AGENTS if a != g.agent) if wrong_agent == 4 else g.agent
        self._redeem(g, agent, other if other_change == 4 else g.change)

    @precondition(lambda self: self.grants)
    @rule()
    def redeem_latest(self):
        """The agent retrying the call it was told is approved (the hook's flow)."""
        g = list(self.grants.values())[-1]
        self._redeem(g, g.agent, g.change)

    def _redeem(self, g: Grant, agent: str, change: str) -> None:
        expected = self.redeemable(g, agent, change)
        if self.reqs[g.rid].overrides_freeze:
            event(f"override grant presented (redeemable: {expected})")
        if not expected:
            event("redeem refused")
            with pytest.raises(Conflict):
                self.gw.redeem(self.p[agent], g.gid, {"intent": "run it", **CHANGES[change].doc})
            return
        out = self.gw.redeem(self.p[agent], g.gid, {"intent": "run it", **CHANGES[change].doc})
        assert out["redeemed"] is True and out["grant_id"] == g.gid and out["request_id"] == g.rid
        assert out["digest"] == g.digest
        g.redeemed = True
        event("grant redeemed")

    @rule(step=st.sampled_from(STEPS))
    def wait(self, step):
        self.clock.advance(seconds=step.total_seconds())

    @rule(scope=st.sampled_from(SWITCHES), who=st.sampled_from(SWITCH_OPERATORS))
    def engage(self, scope, who):
        self._kill_switch(scope, True, who)

    @precondition(lambda self: self.engaged)
    @rule(pick=st.integers(0, 7), who=st.sampled_from(SWITCH_OPERATORS))
    def release(self, pick, who):
        engaged = sorted(self.engaged)
        self._kill_switch(engaged[pick % len(engaged)], False, who)

    def _kill_switch(self, scope: str, engage: bool, who: str) -> None:
        if who == "carol":
            with pytest.raises(Forbidden):
                self.gw.set_kill_switch(self.p[who], scope, engage, "drill")
            return
        out = self.gw.set_kill_switch(self.p[who], scope, engage, "drill")
        voided = 0
        if engage:
            self.engaged.add(scope)
            for g in self.grants.values():
                if not g.redeemed and not g.voided and scope in covering(g.agent, CHANGES[g.change]):
                    g.voided, voided = True, voided + 1
        else:
            self.engaged.discard(scope)
        assert out == {"scope": scope, "engaged": engage, "grants_voided": voided}
        if voided:
            event("kill switch voided grants")

    # ---- invariants over the store --------------------------------------------------------
    def stored(self):
        """Every request with its proposal, reviews and grant, as the store has them."""
        requests = self.store.list_requests(limit=100_000)
        return self.store.read(lambda tx: [(req, tx.get_proposal(req["proposal_id"]), tx.reviews(req["id"]),
                                            tx.grant_for_request(req["id"])) for req in requests])

    @invariant()
    def at_most_one_live_request_per_digest_and_requirement(self):
        now = self.clock.now
        live = Counter()
        live_ids = set()
        for req, _, _, grant in self.stored():
            if ((req["state"] == "pending" and req["expires_at"] > now)
                    or (req["state"] == "approved" and grant and grant["redeemed_at"] is None
                        and grant["void_reason"] is None and grant["expires_at"] > now)):
                live[(req["digest"], req["approvers"], req["emergency"])] += 1
                live_ids.add(req["id"])
        assert all(n == 1 for n in live.values()), live
        assert live_ids == {r.rid for r in self.reqs.values() if self.request_live(r)}

    @invariant()
    def joined_proposals_are_duplicates_of_a_request_with_their_digest(self):
        if not self.props:
            return
        rows = self.stored()
        requests = {req["id"]: req for req, *_ in rows}
        assert set(requests) == set(self.reqs)                 # no request the model did not expect
        for req, prop, _, _ in rows:                            # each in the state the model has it in
            state = self.reqs[req["id"]].state
            assert req["state"] == state
            assert prop["status"] == {"pending": "pending", "approved": "approved", "vetoed": "denied",
                                      "expired": "expired"}[state]
        assert sorted(self.notifier.requested) == sorted(self.reqs)     # paged once a request
        stored = {p["id"]: p for p in self.store.list_proposals(limit=100_000)}
        assert {p.pid for p in self.props} == set(stored)
        for p in self.props:
            row = stored[p.pid]
            assert row["digest"] == p.digest
            if p.joined:
                req = requests[p.rid]
                assert row["status"] == "duplicate"
                assert (req["digest"], req["approvers"], req["emergency"]) == (p.digest, p.approvers, p.emergency)
                assert req["proposal_id"] != p.pid
            else:
                assert row["status"] != "duplicate"
        requested = [r.payload["request_id"] for r in self.store.audit_records(limit=100_000)
                     if r.kind == "approval_requested"]
        assert sorted(requested) == sorted(self.reqs)

    @invariant()
    def grants_are_spent_once_after_an_eligible_quorum(self):
        records = self.store.audit_records(limit=100_000)
        redeemed = Counter(r.payload["grant_id"] for r in records if r.kind == "redeem")
        assert all(n == 1 for n in redeemed.values()), redeemed
        assert set(redeemed) == {g.gid for g in self.grants.values() if g.redeemed}
        for req, prop, reviews, grant in self.stored():
            if grant is None:
                assert req["state"] != "approved"
                continue
            assert grant["digest"] == req["digest"] == prop["digest"]
            assert (grant["redeemed_at"] is not None) == self.grants[grant["id"]].redeemed
            approvers = {r["reviewer"] for r in reviews if r["accepted"] and r["verdict"] == "approve"}
            assert len(approvers) >= req["approvers"], (req, reviews)
            for name in approvers:
                principal = self.p[name]
                assert principal.is_human and name not in (prop["agent"], prop["operator"])
                assert not principal.authority.gaps(prop["decision"]["impact"])
            if grant["redeemed_at"] is not None:
                assert grant["redeemed_at"] < grant["expires_at"]

    @invariant()
    def accepted_reviews_come_from_humans_covering_the_impact(self):
        for req, prop, reviews, _ in self.stored():
            accepted = [r["reviewer"] for r in reviews if r["accepted"]]
            assert len(accepted) == len(set(accepted)), reviews           # one review each
            for name in accepted:
                principal = self.p[name]
                assert principal.is_human and "approver" in principal.roles
                assert name not in (prop["agent"], prop["operator"])
                assert not principal.authority.gaps(prop["decision"]["impact"]), (name, prop["decision"]["impact"])
                assert name in CHANGES[self.reqs[req["id"]].change].may_approve

    @invariant()
    def audit_chain_verifies(self):
        records = self.store.audit_records(limit=100_000)
        result = verify(records, head=self.store.audit_head())
        assert result.ok, result

    @invariant()
    def a_deny_vetoes(self):
        for req, _, reviews, grant in self.stored():
            if any(r["accepted"] and r["verdict"] == "deny" for r in reviews):
                assert req["state"] == "vetoed" and grant is None, (req, reviews)


SETTINGS = settings(max_examples=40, stateful_step_count=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
Approvals.TestCase.settings = SETTINGS
TestApprovals = Approvals.TestCase


def test_the_changes_decide_as_the_model_says(tmp_path):
    """The fixed changes' effects, requirements and eligible reviewers, checked once on the fleet."""
    store = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
    store.migrate()
    try:
        gw = Gateway(SAMPLE_FLEET, None, store, directory(), clock=Clock())
        agent = gw.principals.by_name["coder-1"]
        for name, change in CHANGES.items():
            out = gw.propose(agent, change.doc)
            decision = out["decision"]
            assert decision["effect"] == change.effect, name
            assert (decision["approval"] or {}).get("approvers", 0) == change.approvers, name
            impact = decision["impact"]
            assert impact["environments"] == [change.env], name
            if change.region:
                assert impact["regions"] == [change.region], name
            fits = {h for h in HUMANS if not gw.principals.by_name[h].authority.gaps(impact)}
            assert fits == change.may_approve, name
    finally:
        store.close()


# ---- variants: a freeze with emergency overrides, and a strict kill switch -----------------------------
# These found three defects, now fixed: an override of a change needing 2 approvers asked for 2, not 3;
# an approved override could not be redeemed during its freeze; a grant issued while a kill switch
# covered it outlived the switch.  They run derandomized and without shrinking, to stay quick.
VARIANT = settings(SETTINGS, max_examples=60, derandomize=True, database=None,
                   phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False)


class FrozenApprovals(Approvals):
    """Prod frozen from 10:01 to 12:31: proposals may ask for the emergency override."""
    FREEZE = True

    @rule(agent=st.sampled_from(AGENTS), name=st.sampled_from(list(CHANGES)), intent=st.sampled_from(INTENTS))
    def propose_emergency(self, agent, name, intent):
        self._propose(agent, name, intent, True)


FrozenApprovals.TestCase.settings = VARIANT
TestFrozenApprovals = FrozenApprovals.TestCase


class StrictKillApprovals(Approvals):
    """A grant issued while a kill switch covering it is engaged is void from the start."""
    STRICT_KILL = True


StrictKillApprovals.TestCase.settings = VARIANT
TestStrictKillApprovals = StrictKillApprovals.TestCase


def frozen_gateway(make_gateway, tmp_path, clock):
    policy = tmp_path / "freeze.yaml"
    policy.write_text(FREEZE_POLICY)
    gw = make_gateway(policy=policy)
    clock.now = FREEZE_START + timedelta(minutes=15)
    return gw


def test_emergency_override_needs_one_approver_more_than_the_change_does(make_gateway, tmp_path, clock):
    gw = frozen_gateway(make_gateway, tmp_path, clock)
    out = gw.propose(gw.principals.by_name["kiro-ops-7"], CHANGES["db-cn"].doc, emergency=True)
    assert out["decision"]["effect"] == "approve"
    assert out["decision"]["approval"]["approvers"] == 3          # 2 for a prod stateful delete, + 1


def test_an_approved_emergency_override_can_be_redeemed_during_its_freeze(make_gateway, tmp_path, clock):
    gw = frozen_gateway(make_gateway, tmp_path, clock)
    p = gw.principals.by_name
    out = gw.propose(p["kiro-ops-7"], CHANGES["ns-cn"].doc, emergency=True)
    assert out["decision"]["approval"]["approvers"] == 2
    gw.review(p["bob"], out["approval_request_id"], "approve")
    grant = gw.review(p["carol"], out["approval_request_id"], "approve")
    assert grant["state"] == "approved"
    assert gw.redeem(p["kiro-ops-7"], grant["grant_id"], CHANGES["ns-cn"].doc)["redeemed"] is True


def test_a_grant_issued_under_the_kill_switch_does_not_outlive_it(gateway):
    p = gateway.principals.by_name
    out = gateway.propose(p["kiro-ops-7"], CHANGES["ns-cn"].doc)
    gateway.set_kill_switch(p["bob"], "global", True, "incident")
    grant = gateway.review(p["bob"], out["approval_request_id"], "approve")     # approved, its grant void
    assert grant["state"] == "approved" and grant["grant_void"] == "kill switch global"
    gateway.set_kill_switch(p["bob"], "global", False, "over")
    with pytest.raises(Conflict):
        gateway.redeem(p["kiro-ops-7"], grant["grant_id"], CHANGES["ns-cn"].doc)


def test_an_emergency_flag_before_a_freeze_carries_no_override_into_it(make_gateway, tmp_path, clock):
    """Found by the machine in CI: a change approved as usual (the flag overrode nothing then) must
    not be redeemed during a later freeze with the approvals it had."""
    gw = frozen_gateway(make_gateway, tmp_path, clock)
    clock.now = FREEZE_START - timedelta(minutes=5)
    p = gw.principals.by_name
    out = gw.propose(p["kiro-ops-7"], CHANGES["ns-cn"].doc, emergency=True)
    assert out["decision"]["approval"]["approvers"] == 1                   # nothing to override yet
    grant = gw.review(p["bob"], out["approval_request_id"], "approve")
    clock.now = FREEZE_START + timedelta(minutes=5)
    with pytest.raises(Conflict, match="freeze"):
        gw.redeem(p["kiro-ops-7"], grant["grant_id"], CHANGES["ns-cn"].doc)


def test_an_override_of_one_freeze_is_not_redeemed_during_another(make_gateway, tmp_path, clock):
    """Found by probing the service: the override was matched by rule name ('freeze') alone."""
    policy = tmp_path / "two-freezes.yaml"
    later = FREEZE_END + timedelta(hours=2)
    policy.write_text(FREEZE_POLICY + f"  - name: incident-freeze\n    start: {FREEZE_END.isoformat()}\n"
                                      f"    end: {later.isoformat()}\n    scope: {{env: prod}}\n")
    gw = make_gateway(policy=policy)
    clock.now = FREEZE_END - timedelta(minutes=10)
    p = gw.principals.by_name
    out = gw.propose(p["kiro-ops-7"], CHANGES["ns-cn"].doc, emergency=True)
    assert "prod-freeze" in out["decision"]["reasons"][1]["message"]
    gw.review(p["bob"], out["approval_request_id"], "approve")
    grant = gw.review(p["carol"], out["approval_request_id"], "approve")
    clock.now = FREEZE_END + timedelta(minutes=10)                  # prod-freeze over, incident-freeze on
    with pytest.raises(Conflict, match="incident-freeze"):
        gw.redeem(p["kiro-ops-7"], grant["grant_id"], CHANGES["ns-cn"].doc)
