"""The decision hot path: cached kill switches re-checked in the record's transaction, the raw body."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastwall.service import gateway as gateway_module
from tests.service.conftest import auth

ROUTINE = {"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}


def decide(client, who="kiro-ops-7") -> dict:
    return client.post("/v1/proposals", json=ROUTINE, headers=auth(who)).json()["decision"]


def effect(client, who="kiro-ops-7") -> str:
    return decide(client, who)["effect"]


def test_a_switch_engaged_elsewhere_is_obeyed_by_the_next_decision_despite_the_cache(client, gateway, monkeypatch):
    monkeypatch.setattr(gateway_module, "SWITCH_REFRESH_S", 3600.0)  # the cache never refreshes in this test
    assert effect(client) == "allow"                                  # the gateway has cached "none engaged"
    gateway.store.transact(lambda tx: tx.set_kill_switch("global", True, "bob", "other replica", gateway.clock()))
    decision = decide(client)                                         # only the record's transaction sees it
    assert decision["effect"] == "deny"
    assert "kill-switch" in [r["rule"] for r in decision["reasons"]]
    gateway.store.transact(lambda tx: tx.set_kill_switch("global", False, "bob", "over", gateway.clock()))
    assert effect(client) == "allow"


def test_an_agent_switch_engaged_elsewhere_stops_only_that_agent(client, gateway):
    assert effect(client) == effect(client, "coder-1") == "allow"
    gateway.store.transact(lambda tx: tx.set_kill_switch("agent:coder-1", True, "bob", "runaway", gateway.clock()))
    assert effect(client, "coder-1") == "deny" and effect(client) == "allow"


def test_a_body_that_is_not_json_is_a_400_in_the_one_error_shape(client):
    res = client.post("/v1/proposals", content=b"{not json", headers={**auth("kiro-ops-7"),
                                                                        "content-type": "application/json"})
    assert res.status_code == 400 and "not JSON" in res.json()["error"]["message"]
    res = client.post("/v1/proposals", json=[1, 2], headers=auth("kiro-ops-7"))
    assert res.status_code == 400 and res.json()["error"]["code"]


def test_the_proposal_body_is_documented_in_openapi(client):
    op = client.get("/openapi.json").json()["paths"]["/v1/proposals"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"


def test_the_fast_path_refuses_like_the_api(client):
    def chunks():                                                  # no content-length: counted as it arrives
        for _ in range(3):
            yield b" " * (1 << 19)
    res = client.post("/v1/proposals", content=chunks(), headers=auth("kiro-ops-7"))
    assert res.status_code == 413 and res.json()["error"]["code"] == "too_large"
    res = client.post("/v1/proposals", json=ROUTINE, params={"emergency": "maybe"}, headers=auth("kiro-ops-7"))
    assert res.status_code == 400 and res.json()["error"]["field"] == "emergency"
    res = client.post("/v1/proposals", json=ROUTINE, headers={"Authorization": "Bearer nope"})
    assert res.status_code == 401 and res.json()["error"]["code"] == "unauthorized"


def test_switches_that_never_settle_give_409_and_record_nothing(client, gateway, monkeypatch):
    ghosts = iter(range(10**6))                      # every record transaction sees a new engaged set
    monkeypatch.setattr(gateway_module, "engaged", lambda rows: frozenset({f"agent:ghost-{next(ghosts)}"}))
    before = len(gateway.store.audit_records(limit=10000))
    res = client.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7"))
    assert res.status_code == 409 and res.json()["error"]["code"] == "conflict"
    assert "kill switches kept changing" in res.json()["error"]["message"]
    assert next(ghosts) >= gateway_module.MAX_REPLANS                 # it did try again, that many times
    assert gateway.store.list_proposals() == []
    assert len(gateway.store.audit_records(limit=10000)) == before


NS_DELETE = {"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments",
                                             "--context", "prod-cn-north-1"]}


def redeem_after_a_switch_set_elsewhere(client, gateway, monkeypatch, switch: str):
    """Approve NS_DELETE, set ``switch`` behind the gateway's back (as another replica would: no
    grants voided, the cache stale), then redeem; the redemption's answer and the grant."""
    monkeypatch.setattr(gateway_module, "SWITCH_REFRESH_S", 3600.0)
    body = client.post("/v1/proposals", json=NS_DELETE, headers=auth("kiro-ops-7")).json()
    for who in ["bob", "carol"][:body["decision"]["approval"]["approvers"]]:
        grant = client.post(f"/v1/approvals/{body['approval_request_id']}/reviews",
                            json={"verdict": "approve"}, headers=auth(who)).json()
    gateway.store.transact(lambda tx: tx.set_kill_switch(switch, True, "bob", "elsewhere", gateway.clock()))
    res = client.post(f"/v1/grants/{grant['grant_id']}/redeem", json={"proposal": NS_DELETE},
                      headers=auth("kiro-ops-7"))
    return res, grant


def test_redemption_decides_again_when_a_switch_changed_since_the_cache(client, gateway, monkeypatch):
    res, _ = redeem_after_a_switch_set_elsewhere(client, gateway, monkeypatch, "agent:coder-1")  # not this one
    assert res.status_code == 200 and res.json()["redeemed"] is True
    assert gateway._engaged() == {"agent:coder-1"}                    # learnt from the record transaction


def test_redemption_refuses_when_the_switch_found_at_record_time_stops_this_agent(client, gateway, monkeypatch):
    res, grant = redeem_after_a_switch_set_elsewhere(client, gateway, monkeypatch, "global")
    assert res.status_code == 409 and "denied" in res.json()["error"]["message"]
    assert gateway.store.read(lambda tx: tx.get_grant(grant["grant_id"]))["redeemed_at"] is None


def test_record_ids_are_unique_and_sort_in_the_order_they_were_made():
    import time
    first = [gateway_module.record_id("prop") for _ in range(5000)]
    time.sleep(0.002)
    later = gateway_module.record_id("prop")
    assert len(set(first)) == len(first)
    assert all(later > i for i in first) and all(i.startswith("prop_") and len(i) == 33 for i in first)


WORDS = st.sampled_from(["kubectl", "--context", "prod-us-east-1", "-n", "payments", "scale", "deployment",
                         "payments", "--replicas=0", "--replicas=3", "a b", "a", "b", "--force", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(WORDS, min_size=1, max_size=8), st.lists(WORDS, min_size=1, max_size=8))
def test_two_different_argvs_never_share_a_binding_digest(gateway, first, second):
    from blastwall.core.proposal import parse_proposal

    def digest(argv):
        proposal = parse_proposal({"agent": "kiro-ops-7", "argv": argv})
        return gateway_module.binding_digest(gateway_module.proposal_doc(proposal), gateway.engine)
    assert (digest(first) == digest(second)) == (first == second)
