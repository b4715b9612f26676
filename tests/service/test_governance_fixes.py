"""Governance defects found by probing, each asserted through the Gateway and over HTTP:

A. an env:NAME kill switch covers a change whose targets the inventory does not know (its
   environments cannot be known): denied when decided, its grant void when issued, voided when the
   switch is engaged, and refused when redeemed;
B. a kill-switch scope is exactly one that stops something (global, env:<an environment>,
   agent:<a declared agent>) and ``engaged`` a real boolean; anything else is refused (400, the
   field named), never "engaged" with nothing stopped;
C. refusals of redemptions, reviews and execution reports are audited (committed, then raised);
D. only a proposal allowed, or one whose grant was redeemed, may be reported executed.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastwall.errors import BlastwallError
from blastwall.service.errors import Conflict, Forbidden, NotFound
from blastwall.service.gateway import covering_switch
from tests.service.conftest import auth, token

UNKNOWN = {"intent": "restart api", "argv": ["kubectl", "rollout", "restart", "deployment/api", "-n", "api"]}
UNKNOWN_READ = {"intent": "look", "argv": ["kubectl", "get", "pods", "-n", "api"]}
KNOWN_PROD = {"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/prod-eu-west-1/search"}]}
ROUTINE = {"intent": "pick up config", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}
NS_DELETE = {"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments",
                                             "--context", "prod-cn-north-1"]}
DENIED = {"intent": "recreate", "operations": [{"verb": "delete", "target": "env/prod-cn"}]}
# a change of each environment's (allowed or approved without a switch; kill-switch denied under one)
IN_ENV = {"dev": ROUTINE,
          "staging": {"operations": [{"verb": "restart", "target": "deploy/staging-us-east-1/web"}]},
          "prod": KNOWN_PROD}


def who(gw, name):
    return gw.authenticate(token(name), "test")


def effect(body: dict) -> str:
    return body["decision"]["effect"]


def rules(body: dict) -> list[str]:
    return [r["rule"] for r in body["decision"]["reasons"]]


def last_audit(gw):
    head, _ = gw.store.audit_head()
    return gw.store.audit_records(after_seq=head - 1)[-1]


def approve(gw, body: dict, reviewer: str = "root") -> dict:
    assert effect(body) == "approve", body
    return gw.review(who(gw, reviewer), body["approval_request_id"], "approve", "ok")


# ---- A: env switches cover changes whose environments cannot be known --------------------------
def test_covering_switch_unknown_environments():
    assert covering_switch(frozenset({"env:prod"}), "a", (), unknown_env=True) == "env:prod"
    assert covering_switch(frozenset({"env:dev", "env:prod"}), "a", (), unknown_env=True) == "env:dev"
    assert covering_switch(frozenset({"env:prod"}), "a", (), unknown_env=False) == ""
    assert covering_switch(frozenset({"agent:b"}), "a", (), unknown_env=True) == ""
    assert covering_switch(frozenset(), "a", (), unknown_env=True) == ""
    assert covering_switch(frozenset({"global", "env:prod"}), "a", (), unknown_env=True) == "global"


@given(switches=st.frozensets(st.sampled_from(["global", "env:dev", "env:prod", "agent:a", "agent:b"])),
       envs=st.lists(st.sampled_from(["dev", "prod", "staging"]), max_size=3), unknown=st.booleans())
def test_covering_switch_is_fail_closed_for_unknown_environments(switches, envs, unknown):
    found = covering_switch(switches, "a", envs, unknown)
    assert (found in switches) if found else True
    expected = ("global" in switches or "agent:a" in switches or any(f"env:{e}" in switches for e in envs)
                or (unknown and any(s.startswith("env:") for s in switches)))
    assert bool(found) == expected


@pytest.mark.parametrize("env", ["prod", "dev", "staging"])
def test_any_env_switch_denies_a_change_with_unknown_targets(gateway, env):
    kiro, bob = who(gateway, "kiro-ops-7"), who(gateway, "bob")
    assert effect(gateway.propose(kiro, UNKNOWN)) == "approve"              # no switch: a human decides
    gateway.set_kill_switch(bob, f"env:{env}", True, "incident")
    body = gateway.propose(kiro, UNKNOWN)
    assert effect(body) == "deny" and "kill-switch" in rules(body)
    read = gateway.propose(kiro, UNKNOWN_READ)                             # reads are never stopped
    assert "kill-switch" not in rules(read)
    gateway.set_kill_switch(bob, f"env:{env}", False, "over")
    assert effect(gateway.propose(kiro, UNKNOWN)) == "approve"


def test_an_agent_switch_of_another_agent_does_not_cover_it(gateway):
    gateway.set_kill_switch(who(gateway, "bob"), "agent:coder-1", True, "runaway")
    assert effect(gateway.propose(who(gateway, "kiro-ops-7"), UNKNOWN)) == "approve"


def test_a_grant_issued_while_an_env_switch_is_engaged_is_void(gateway):
    kiro = who(gateway, "kiro-ops-7")
    pending = gateway.propose(kiro, UNKNOWN)
    gateway.set_kill_switch(who(gateway, "bob"), "env:prod", True, "incident")
    out = approve(gateway, pending)
    assert out["state"] == "approved" and out["grant_void"] == "kill switch env:prod"
    with pytest.raises(Conflict):
        gateway.redeem(kiro, out["grant_id"], UNKNOWN)
    assert last_audit(gateway).kind == "redeem_refused"


def test_engaging_an_env_switch_voids_grants_of_changes_with_unknown_targets(gateway):
    kiro, bob = who(gateway, "kiro-ops-7"), who(gateway, "bob")
    unknown = approve(gateway, gateway.propose(kiro, UNKNOWN))
    read = approve(gateway, gateway.propose(kiro, UNKNOWN_READ))              # a read: not covered
    prod_only = approve(gateway, gateway.propose(kiro, NS_DELETE), "bob")      # prod only: not covered
    out = gateway.set_kill_switch(bob, "env:staging", True, "incident")
    assert out["grants_voided"] == 1
    grants = {g: gateway.store.read(lambda tx, g=g: tx.get_grant(g))
              for g in (unknown["grant_id"], read["grant_id"], prod_only["grant_id"])}
    assert grants[unknown["grant_id"]]["void_reason"] == "kill switch env:staging"
    assert grants[read["grant_id"]]["void_reason"] is None
    assert grants[prod_only["grant_id"]]["void_reason"] is None
    with pytest.raises(Conflict):
        gateway.redeem(kiro, unknown["grant_id"], UNKNOWN)
    assert gateway.redeem(kiro, read["grant_id"], UNKNOWN_READ)["redeemed"] is True


def test_on_postgresql_too_an_env_switch_voids_grants_of_unknown_targets(make_gateway, pg_url):
    gw = make_gateway(db=pg_url)
    kiro = who(gw, "kiro-ops-7")
    grant = approve(gw, gw.propose(kiro, UNKNOWN))
    assert gw.set_kill_switch(who(gw, "bob"), "env:dev", True, "incident")["grants_voided"] == 1
    with pytest.raises(Conflict):
        gw.redeem(kiro, grant["grant_id"], UNKNOWN)
    body = gw.propose(kiro, UNKNOWN)
    assert effect(body) == "deny" and "kill-switch" in rules(body)


def test_redemption_rechecks_env_switches_for_unknown_targets(gateway):
    """A switch engaged elsewhere without voiding (another replica mid-way, an old version): the
    redemption's own re-check still refuses."""
    kiro = who(gateway, "kiro-ops-7")
    grant = approve(gateway, gateway.propose(kiro, UNKNOWN))
    gateway.store.transact(lambda tx: tx.set_kill_switch("env:dev", True, "bob", "elsewhere", gateway.clock()))
    with pytest.raises(Conflict, match="kill switch"):
        gateway.redeem(kiro, grant["grant_id"], UNKNOWN)
    assert gateway.store.read(lambda tx: tx.get_grant(grant["grant_id"]))["redeemed_at"] is None


def test_stored_proposals_say_whether_their_environments_are_known(gateway):
    kiro = who(gateway, "kiro-ops-7")
    ids = {name: gateway.propose(kiro, doc)["proposal_id"]
           for name, doc in (("unknown", UNKNOWN), ("read", UNKNOWN_READ), ("known", KNOWN_PROD))}
    stored = {name: gateway.store.read(lambda tx, p=pid: tx.get_proposal(p)) for name, pid in ids.items()}
    assert stored["unknown"]["unknown_env"] is True and stored["unknown"]["envs"] == []
    assert stored["read"]["unknown_env"] is False and stored["known"]["unknown_env"] is False


def test_http_env_switch_stops_a_change_without_its_context(client):
    """The probe: env:prod engaged, `kubectl rollout restart` without --context was approved, and
    its grant redeemed while the switch was engaged."""
    pending = client.post("/v1/proposals", json=UNKNOWN, headers=auth("kiro-ops-7")).json()
    assert effect(pending) == "approve"
    res = client.post("/v1/kill-switch", json={"scope": "env:prod", "engaged": True, "reason": "prod incident"},
                      headers=auth("bob"))
    assert res.status_code == 200
    body = client.post("/v1/proposals", json=UNKNOWN, headers=auth("kiro-ops-7")).json()
    assert effect(body) == "deny" and "kill-switch" in rules(body)
    grant = client.post(f"/v1/approvals/{pending['approval_request_id']}/reviews", json={"verdict": "approve"},
                        headers=auth("root")).json()
    assert grant["grant_void"] == "kill switch env:prod"
    redeem = client.post(f"/v1/grants/{grant['grant_id']}/redeem", json={"proposal": UNKNOWN},
                         headers=auth("kiro-ops-7"))
    assert redeem.status_code == 409


# ---- B: kill-switch scopes and values are exactly what stops something -------------------------
BOGUS_SCOPES = ["env:Prod", "env:PROD", "env:prod ", " env:prod", "env: prod", "env:prod\u200b", "\u200benv:prod",
                "ENV:prod", "env:", "env:nowhere", "agent:Kiro-ops-7", "agent:kiro-ops-7 ", "agent:bob",
                "agent:", "Global", "global ", "", "*", "env:prod,env:dev", "env:prod\x00"]


def test_switch_scopes_are_the_inventory_and_the_declared_agents(gateway):
    assert gateway.switch_scopes() == {"global", "env:dev", "env:prod", "env:staging",
                                       "agent:kiro-ops-7", "agent:coder-1"}


@pytest.mark.parametrize("scope", BOGUS_SCOPES)
def test_a_scope_that_matches_nothing_is_refused_and_audited(gateway, scope):
    bob = who(gateway, "bob")
    with pytest.raises(BlastwallError) as err:
        gateway.set_kill_switch(bob, scope, True, "incident")
    assert err.value.field == "scope" and "prod" in err.value.message and "kiro-ops-7" in err.value.message
    assert gateway.store.kill_switches() == {}
    record = last_audit(gateway)
    assert record.kind == "kill_switch_refused" and record.actor == "bob" and record.payload["engaged"] is True


def test_a_near_miss_names_the_scope_meant(gateway):
    with pytest.raises(BlastwallError, match=r"did you mean env:prod\?"):
        gateway.set_kill_switch(who(gateway, "bob"), "env:Prod", True, "incident")


@pytest.mark.parametrize("engaged", ["false", "true", None, [], {}, 0, 1, 1.0, "yes"])
def test_engaged_must_be_a_boolean(gateway, engaged):
    with pytest.raises(BlastwallError) as err:
        gateway.set_kill_switch(who(gateway, "bob"), "global", engaged, "incident")
    assert err.value.field == "engaged"
    assert gateway.store.kill_switches() == {} and last_audit(gateway).kind == "kill_switch_refused"


@pytest.mark.parametrize("scope, reason, field", [(None, "x", "scope"), (["global"], "x", "scope"), (1, "x", "scope"),
                                                  ("global", None, "reason"), ("global", 5, "reason")])
def test_scope_and_reason_must_be_strings(gateway, scope, reason, field):
    with pytest.raises(BlastwallError) as err:
        gateway.set_kill_switch(who(gateway, "bob"), scope, True, reason)
    assert err.value.field == field and gateway.store.kill_switches() == {}


def test_without_the_role_it_is_forbidden_and_audited(gateway):
    with pytest.raises(Forbidden):
        gateway.set_kill_switch(who(gateway, "carol"), "global", True, "x")
    assert last_audit(gateway).kind == "kill_switch_refused" and gateway.store.kill_switches() == {}


def test_a_switch_stored_under_an_old_name_can_be_released_not_engaged(gateway):
    """Engaged before scopes were checked (or its environment left the inventory): it must come off."""
    gateway.store.transact(lambda tx: tx.set_kill_switch("env:Prod", True, "bob", "old", gateway.clock()))
    bob = who(gateway, "bob")
    with pytest.raises(BlastwallError):
        gateway.set_kill_switch(bob, "env:Prod", True, "again")
    out = gateway.set_kill_switch(bob, "env:Prod", False, "tidy up")
    assert out == {"scope": "env:Prod", "engaged": False, "grants_voided": 0}
    assert gateway.store.kill_switches()["env:Prod"]["engaged"] is False
    with pytest.raises(BlastwallError):                  # never stored: nothing to release
        gateway.set_kill_switch(bob, "env:Dev", False, "x")


@pytest.mark.parametrize("scope", ["global", "env:dev", "env:staging", "env:prod", "agent:kiro-ops-7", "agent:coder-1"])
def test_every_accepted_scope_stops_what_it_names(gateway, scope):
    """Never "engaged" with nothing stopped: each scope accepted denies a change it covers."""
    kind, _, name = scope.partition(":")
    agent = name if kind == "agent" else "kiro-ops-7"
    doc = IN_ENV[name] if kind == "env" else ROUTINE
    before = gateway.propose(who(gateway, agent), doc)
    assert effect(before) in ("allow", "approve")
    gateway.set_kill_switch(who(gateway, "bob"), scope, True, "drill")
    after = gateway.propose(who(gateway, agent), doc)
    assert effect(after) == "deny" and "kill-switch" in rules(after)


def near_misses(known: list[str]):
    """Spellings of known scopes that are not them: case, whitespace, invisible characters, separators."""
    base = st.sampled_from(known)
    junk = st.sampled_from([" ", "\t", "\n", "\u200b", "\u00a0", "\ufeff", "\u202e", "\x00", ":", "*", "\u0131"])
    return st.one_of(
        base.map(str.upper), base.map(str.title), base.map(str.swapcase),
        st.tuples(base, junk, st.integers(0, 30)).map(lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:]),
        base.map(lambda s: s.replace(":", ": ")), base.map(lambda s: s.replace(":", "=")),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_scope_string_is_exactly_a_known_scope_or_refused(gateway, data):
    known = sorted(gateway.switch_scopes())
    scope = data.draw(st.one_of(st.text(max_size=40), near_misses(known),
                                st.sampled_from(["env:", "agent:"]).flatmap(lambda p: st.text(max_size=20)
                                                                            .map(lambda s: p + s))))
    bob = who(gateway, "bob")
    if scope in known:
        assert gateway.set_kill_switch(bob, scope, True, "drill")["engaged"] is True
        gateway.set_kill_switch(bob, scope, False, "over")
        return
    with pytest.raises(BlastwallError) as err:
        gateway.set_kill_switch(bob, scope, True, "drill")
    assert err.value.field == "scope"
    assert scope not in gateway.store.kill_switches()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(engaged=st.recursive(st.none() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=3), max_leaves=5))
def test_any_non_boolean_engaged_is_refused(gateway, engaged):
    with pytest.raises(BlastwallError) as err:
        gateway.set_kill_switch(who(gateway, "bob"), "global", engaged, "x")
    assert err.value.field == "engaged" and "global" not in gateway.store.kill_switches()


@pytest.mark.parametrize("body, field", [
    ({"scope": "env:Prod", "engaged": True, "reason": "x"}, "scope"),
    ({"scope": "env:prod ", "engaged": True, "reason": "x"}, "scope"),
    ({"scope": "agent:Kiro-ops-7", "engaged": True, "reason": "x"}, "scope"),
    ({"scope": "env:prod\u200b", "engaged": True, "reason": "x"}, "scope"),
    ({"scope": "global", "engaged": "false", "reason": "x"}, "engaged"),
    ({"scope": "global", "engaged": None, "reason": "x"}, "engaged"),
    ({"scope": "global", "engaged": [], "reason": "x"}, "engaged"),
    ({"scope": ["global"], "engaged": True, "reason": "x"}, "scope"),
])
def test_http_kill_switch_refuses_what_would_stop_nothing(client, body, field):
    res = client.post("/v1/kill-switch", json=body, headers=auth("bob"))
    assert res.status_code == 400 and res.json()["error"]["field"] == field, res.text
    assert client.get("/v1/kill-switch", headers=auth("bob")).json() == {}
    log = client.get("/v1/audit", params={"limit": 1000}, headers=auth("root")).json()
    assert log[-1]["kind"] == "kill_switch_refused"


def test_http_kill_switch_accepts_the_real_scopes(client):
    for scope in ("env:prod", "agent:kiro-ops-7", "global"):
        res = client.post("/v1/kill-switch", json={"scope": scope, "engaged": True, "reason": "x"}, headers=auth("bob"))
        assert res.status_code == 200 and res.json()["engaged"] is True
        res = client.post("/v1/kill-switch", json={"scope": scope, "engaged": False, "reason": "x"},
                          headers=auth("bob"))
        assert res.status_code == 200 and res.json()["engaged"] is False


# ---- C: refusals of redemptions, reviews and execution reports are audited ---------------------
@pytest.fixture
def granted(gateway):
    body = gateway.propose(who(gateway, "kiro-ops-7"), NS_DELETE)
    return body, approve(gateway, body, "bob")


def test_redeeming_as_another_agent_is_refused_and_audited(gateway, granted):
    _, grant = granted
    with pytest.raises(Forbidden):
        gateway.redeem(who(gateway, "coder-1"), grant["grant_id"], {**NS_DELETE, "agent": "kiro-ops-7"})
    record = last_audit(gateway)
    assert record.kind == "redeem_refused" and record.actor == "coder-1"
    assert record.payload["grant_id"] == grant["grant_id"] and "cannot propose as" in record.payload["why"]
    assert gateway.store.read(lambda tx: tx.get_grant(grant["grant_id"]))["redeemed_at"] is None


@pytest.mark.parametrize("doc", [{**NS_DELETE, "x": 1}, [NS_DELETE], None, "kubectl delete ns payments",
                                 {"operations": [{"verb": "nuke", "target": "x"}]}])
def test_redeeming_with_a_malformed_proposal_is_refused_and_audited(gateway, granted, doc):
    _, grant = granted
    with pytest.raises(BlastwallError) as err:
        gateway.redeem(who(gateway, "kiro-ops-7"), grant["grant_id"], doc)
    assert getattr(err.value, "status", 400) == 400
    record = last_audit(gateway)
    assert record.kind == "redeem_refused" and record.payload["grant_id"] == grant["grant_id"]


@pytest.mark.parametrize("verdict", ["APPROVE", "Approve", "approve ", "", None, 1, ["approve"]])
def test_a_review_with_a_bad_verdict_is_refused_and_audited(gateway, verdict):
    body = gateway.propose(who(gateway, "coder-1"), NS_DELETE)
    with pytest.raises(BlastwallError) as err:
        gateway.review(who(gateway, "carol"), body["approval_request_id"], verdict, "ok")
    assert err.value.field == "verdict"
    record = last_audit(gateway)
    assert record.kind == "review_rejected" and record.actor == "carol"
    assert record.payload["request_id"] == body["approval_request_id"]
    assert gateway.store.read(lambda tx: tx.reviews(body["approval_request_id"])) == []


def test_a_review_of_no_request_is_404_and_audited(gateway):
    with pytest.raises(NotFound):
        gateway.review(who(gateway, "coder-1"), "req_nope", "approve", "")
    record = last_audit(gateway)
    assert record.kind == "review_rejected" and record.payload["request_id"] == "req_nope"
    assert "no approval request" in record.payload["why"]


def test_reporting_another_agents_execution_is_404_and_audited(gateway, granted):
    body, grant = granted
    gateway.redeem(who(gateway, "kiro-ops-7"), grant["grant_id"], NS_DELETE)
    with pytest.raises(NotFound):
        gateway.report_execution(who(gateway, "coder-1"), body["proposal_id"], {"exit": 0})
    record = last_audit(gateway)
    assert record.kind == "execution_refused" and record.actor == "coder-1" and record.payload["status"] is None
    assert gateway.store.read(lambda tx: tx.get_proposal(body["proposal_id"]))["status"] == "approved"


def test_http_refusals_are_audited(client):
    def audited(res, status):
        assert res.status_code == status, res.text
        log = client.get("/v1/audit", params={"limit": 1000}, headers=auth("root")).json()
        return log[-1]

    body = client.post("/v1/proposals", json=NS_DELETE, headers=auth("kiro-ops-7")).json()
    rid = body["approval_request_id"]
    gid = client.post(f"/v1/approvals/{rid}/reviews", json={"verdict": "approve"},
                      headers=auth("bob")).json()["grant_id"]
    cases = [
        (lambda: client.post(f"/v1/grants/{gid}/redeem", json={"proposal": {**NS_DELETE, "agent": "kiro-ops-7"}},
                             headers=auth("coder-1")), 403, "redeem_refused"),
        (lambda: client.post(f"/v1/grants/{gid}/redeem", json={"proposal": {**NS_DELETE, "x": 1}},
                             headers=auth("kiro-ops-7")), 400, "redeem_refused"),
        (lambda: client.post(f"/v1/approvals/{rid}/reviews", json={"verdict": "APPROVE"}, headers=auth("erin")),
         400, "review_rejected"),
        (lambda: client.post("/v1/approvals/req_nope/reviews", json={"verdict": "approve"}, headers=auth("coder-1")),
         404, "review_rejected"),
        (lambda: client.post(f"/v1/proposals/{body['proposal_id']}/executions", json={"exit": 0},
                             headers=auth("coder-1")), 404, "execution_refused"),
    ]
    for call, status, kind in cases:
        assert audited(call(), status)["kind"] == kind


# ---- D: only what may run is reported run ----------------------------------------------------------
def status_of(gw, pid):
    return gw.store.read(lambda tx: tx.get_proposal(pid))["status"]


@pytest.mark.parametrize("doc, status", [(DENIED, "denied"), (NS_DELETE, "pending")])
def test_an_execution_of_a_denied_or_pending_proposal_is_refused(gateway, doc, status):
    kiro = who(gateway, "kiro-ops-7")
    pid = gateway.propose(kiro, doc)["proposal_id"]
    with pytest.raises(Conflict, match=status):
        gateway.report_execution(kiro, pid, {"exit": 0})
    assert status_of(gateway, pid) == status
    record = last_audit(gateway)
    assert record.kind == "execution_refused" and record.payload == {
        "proposal_id": pid, "status": status, "outcome": {"exit": 0}, "why": record.payload["why"]}


def test_an_approved_proposal_is_reported_only_once_its_grant_is_redeemed(gateway, granted):
    body, grant = granted
    kiro = who(gateway, "kiro-ops-7")
    with pytest.raises(Conflict):
        gateway.report_execution(kiro, body["proposal_id"], {"exit": 0})
    assert status_of(gateway, body["proposal_id"]) == "approved"
    gateway.redeem(kiro, grant["grant_id"], NS_DELETE)
    assert gateway.report_execution(kiro, body["proposal_id"], {"exit": 0})["recorded"] is True
    assert status_of(gateway, body["proposal_id"]) == "executed"


def test_a_duplicate_is_not_reported_an_allowed_one_is_and_may_be_again(gateway):
    kiro = who(gateway, "kiro-ops-7")
    first = gateway.propose(kiro, NS_DELETE)
    dup = gateway.propose(kiro, NS_DELETE)
    assert dup["joined"] is True
    with pytest.raises(Conflict, match="duplicate"):
        gateway.report_execution(kiro, dup["proposal_id"], {"exit": 0})
    assert first["proposal_id"] != dup["proposal_id"]
    allowed = gateway.propose(kiro, ROUTINE)["proposal_id"]
    assert gateway.report_execution(kiro, allowed, {"exit": 0})["recorded"] is True
    assert gateway.report_execution(kiro, allowed, {"exit": 0, "retry": True})["recorded"] is True   # a retried report
    assert status_of(gateway, allowed) == "executed"


def test_http_execution_of_a_denied_proposal_is_409_and_leaves_it_denied(client):
    pid = client.post("/v1/proposals", json=DENIED, headers=auth("kiro-ops-7")).json()["proposal_id"]
    res = client.post(f"/v1/proposals/{pid}/executions", json={"exit": 0}, headers=auth("kiro-ops-7"))
    assert res.status_code == 409 and res.json()["error"]["code"] == "conflict"
    assert client.get(f"/v1/proposals/{pid}", headers=auth("root")).json()["status"] == "denied"
    assert client.get("/v1/audit", params={"limit": 1000}, headers=auth("root")).json()[-1]["kind"] == \
        "execution_refused"

