"""Who reads what: humans read everything; an agent reads its own proposals and requests only
(another agent's intents, commands and grant ids are not its business), never the audit log."""
import pytest

from tests.service.conftest import auth
from tests.service.test_api import NS_DELETE, ROUTINE, propose


@pytest.fixture
def records(client):
    kiro = propose(client, NS_DELETE, "kiro-ops-7").json()
    coder = propose(client, {**ROUTINE, "intent": "coder's own"}, "coder-1").json()
    return {"kiro": kiro, "coder": coder}


def get(client, path, who, **params):
    return client.get(path, params=params, headers=auth(who))


def test_an_agent_lists_only_its_own_proposals_and_requests(client, records):
    mine = get(client, "/v1/proposals", "coder-1").json()
    assert [p["id"] for p in mine] == [records["coder"]["proposal_id"]]
    assert get(client, "/v1/approvals", "coder-1").json() == []
    theirs = get(client, "/v1/approvals", "kiro-ops-7").json()
    assert [r["id"] for r in theirs] == [records["kiro"]["approval_request_id"]]
    res = get(client, "/v1/proposals", "coder-1", agent="kiro-ops-7")
    assert res.status_code == 403 and res.json()["error"]["code"] == "forbidden"


def test_another_agents_records_read_as_missing(client, records):
    for path in (f"/v1/proposals/{records['kiro']['proposal_id']}",
                 f"/v1/approvals/{records['kiro']['approval_request_id']}"):
        res = get(client, path, "coder-1")
        assert res.status_code == 404 and res.json()["error"]["code"] == "not_found", path
        assert get(client, path, "kiro-ops-7").status_code == 200
        assert get(client, path, "alice").status_code == 200


def test_the_audit_log_and_checkpoints_are_for_humans(client, records):
    for path in ("/v1/audit", "/v1/audit/checkpoints"):
        res = get(client, path, "kiro-ops-7")
        assert res.status_code == 403 and "audit log is for humans" in res.json()["error"]["message"]
    kinds = {r["kind"] for r in get(client, "/v1/audit", "alice", limit=1000).json()}
    assert {"proposal", "decision", "approval_requested"} <= kinds


def test_humans_read_every_agents_records(client, records):
    listed = {p["agent"] for p in get(client, "/v1/proposals", "bob").json()}
    assert listed == {"kiro-ops-7", "coder-1"}
    assert [p["agent"] for p in get(client, "/v1/proposals", "bob", agent="coder-1").json()] == ["coder-1"]


@pytest.mark.parametrize("status, state", [(None, None), ("allowed", "pending"), ("pending", "approved"),
                                           ("denied", "void"), ("duplicate", None)])
def test_no_filter_shows_an_agent_anything_of_another(client, records, status, state):
    params = {k: v for k, v in {"status": status}.items() if v}
    assert all(p["agent"] == "coder-1" for p in get(client, "/v1/proposals", "coder-1", **params).json())
    requests = get(client, "/v1/approvals", "coder-1", **({"state": state} if state else {})).json()
    assert requests == []
