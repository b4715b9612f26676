"""The decision hot path: cached kill switches re-checked in the record's transaction, the raw body."""
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
