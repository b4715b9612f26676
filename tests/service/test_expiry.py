"""Approval requests end when their time is up (service/expiry.py), audited, whether or not
anyone looks at them again: in process with a clock, and in real services, one process or several."""
from __future__ import annotations

import time

import httpx
import pytest
from fastapi.testclient import TestClient

from blastwall.service.app import create_app
from blastwall.service.expiry import RequestExpiry
from tests.service.conftest import auth
from tests.service.procs import Service
from tests.service.test_api import DB_DELETE, NS_DELETE, audit_kinds, propose, review


def _audit(client) -> list[dict]:
    return client.get("/v1/audit", params={"limit": 1000}, headers=auth("root")).json()


def _stored_state(gateway, rid: str) -> str:
    return gateway.store.read(lambda tx: tx.get_request(rid))["state"]


def test_an_overdue_request_is_closed_audited_and_its_proposal_expired(gateway, clock):
    with TestClient(create_app(gateway)) as client:
        first = propose(client, NS_DELETE).json()
        clock.advance(minutes=30)
        later = propose(client, DB_DELETE, who="coder-1").json()
        expiry = RequestExpiry(clock)
        assert gateway.store.transact(expiry) == 0                      # nothing is due yet
        clock.advance(minutes=30, seconds=1)
        assert gateway.store.transact(expiry) == 1
        closed = _audit(client)[-1]
        assert closed["kind"] == "requests_expired" and closed["actor"] == "system"
        assert closed["payload"] == {"request_ids": [first["approval_request_id"]],
                                     "proposal_ids": [first["proposal_id"]]}
        assert _stored_state(gateway, first["approval_request_id"]) == "expired"
        assert client.get(f"/v1/proposals/{first['proposal_id']}", headers=auth("root")).json()["status"] == "expired"
        assert gateway.store.transact(expiry) == 0                      # closed once only
        res = review(client, first["approval_request_id"], "bob")
        assert res.status_code == 409 and "request is expired" in res.json()["error"]["message"]
        assert "request_expired" not in audit_kinds(client)             # the review found it closed
        assert _stored_state(gateway, later["approval_request_id"]) == "pending"
        assert review(client, later["approval_request_id"], "bob").status_code == 200   # still live


def test_a_backlog_drains_a_limited_number_a_run_soonest_expired_first(gateway, clock, monkeypatch):
    monkeypatch.setattr(RequestExpiry, "LIMIT", 2)
    with TestClient(create_app(gateway)) as client:
        ids = []
        for who, doc in (("kiro-ops-7", NS_DELETE), ("coder-1", NS_DELETE), ("coder-1", DB_DELETE)):
            ids.append(propose(client, doc, who=who).json()["approval_request_id"])
            clock.advance(seconds=1)
        clock.advance(hours=2)
        expiry = RequestExpiry(clock)
        assert [gateway.store.transact(expiry) for _ in range(3)] == [2, 1, 0]
        runs = [r["payload"]["request_ids"] for r in _audit(client) if r["kind"] == "requests_expired"]
        assert runs == [ids[:2], ids[2:]]
        assert {_stored_state(gateway, rid) for rid in ids} == {"expired"}


def test_an_upkeep_that_fails_is_undone_alone_and_the_writer_goes_on(gateway, clock):
    with TestClient(create_app(gateway)) as client:
        rid = propose(client, NS_DELETE).json()["approval_request_id"]
        clock.advance(hours=2)
        runs = []

        def broken(tx):
            runs.append(RequestExpiry(clock)(tx))
            raise RuntimeError("upkeep broke after closing")
        gateway.store.add_upkeep(broken, 0.01)
        deadline = time.monotonic() + 10
        while not runs and time.monotonic() < deadline:
            assert propose(client, DB_DELETE, who="coder-1").status_code == 200   # its batch committed
            time.sleep(0.02)
        assert runs and runs[0] == 1                                      # it ran, and closed one
        assert _stored_state(gateway, rid) == "pending"                   # then its writes were undone
        assert "requests_expired" not in audit_kinds(client)             # its audit record too


@pytest.mark.parametrize("workers", [(), ("--workers", "2")], ids=["one process", "two workers"])
def test_an_idle_real_service_expires_requests_nobody_reviews(tmp_path, workers):
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}", extra_args=("--approval-ttl", "1", *workers))
    svc.wait_ready()
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            body = c.post("/v1/proposals", json=NS_DELETE, headers=auth("kiro-ops-7")).json()
            rid = body["approval_request_id"]
            assert rid is not None
            deadline, kinds = time.monotonic() + 15, []
            while time.monotonic() < deadline:          # no write comes: the writer wakes for it
                audit = c.get("/v1/audit", params={"limit": 1000}, headers=auth("root")).json()
                kinds = [(r["kind"], rid in r["payload"].get("request_ids", ())) for r in audit]
                if ("requests_expired", True) in kinds:
                    break
                time.sleep(0.2)
            assert ("requests_expired", True) in kinds
            assert c.get(f"/v1/proposals/{body['proposal_id']}", headers=auth("root")).json()["status"] == "expired"
            assert not any(k == "review" for k, _ in kinds)
    finally:
        svc.kill(15)


def test_an_idle_store_drains_a_backlog_without_waiting_a_second_a_run(gateway, clock, monkeypatch):
    """Runs that come back full are followed after EVERY, not IDLE_EVERY: five requests, two a run,
    close in well under the three idle wake-ups it would otherwise take."""
    monkeypatch.setattr(RequestExpiry, "LIMIT", 2)
    monkeypatch.setattr(RequestExpiry, "IDLE_EVERY", 2.0)
    with TestClient(create_app(gateway)) as client:
        docs = [NS_DELETE, DB_DELETE, *({"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments",
                                                                     "--context", ctx]}
                                        for ctx in ("prod-us-east-1", "prod-eu-west-1", "prod-cn-northwest-1"))]
        ids = [propose(client, doc).json().get("approval_request_id") for doc in docs]
        assert len(set(ids) - {None}) == 5
        clock.advance(hours=2)
        RequestExpiry(clock).attach(gateway.store)
        deadline = time.monotonic() + 10
        while {_stored_state(gateway, rid) for rid in ids} != {"expired"} and time.monotonic() < deadline:
            time.sleep(0.05)
        took = 10 - (deadline - time.monotonic())
        assert {_stored_state(gateway, rid) for rid in ids} == {"expired"}
        assert 1.5 <= took < 4.0                      # the first run waits IDLE_EVERY; the rest follow at once
