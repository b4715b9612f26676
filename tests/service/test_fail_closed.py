"""If the service cannot record, it refuses: real faults, no mocks."""
import sqlite3

from fastapi.testclient import TestClient

from blastwall.service.app import create_app
from tests.service.conftest import auth
from tests.store.conftest import require_pg_bindir
from tests.store.pgserver import PgServer

ROUTINE = {"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}


def test_audit_write_failing_refuses_and_records_nothing(make_gateway, tmp_path):
    gw = make_gateway()
    with TestClient(create_app(gw)) as c:
        assert c.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).status_code == 200
        with sqlite3.connect(tmp_path / "bw.db") as db:
            db.execute("CREATE TRIGGER broken BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        res = c.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7"))
        assert res.status_code >= 500 and "decision" not in res.json()
        with sqlite3.connect(tmp_path / "bw.db") as db:
            db.execute("DROP TRIGGER broken")
        assert len(gw.store.list_proposals()) == 1         # the refused one left no trace


def test_store_down_refuses_every_request(make_gateway, tmp_path):
    server = PgServer(require_pg_bindir())
    server.start()
    try:
        gw = make_gateway(db=server.create_schema("down"))
        with TestClient(create_app(gw), raise_server_exceptions=False) as c:
            assert c.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).status_code == 200
            server.stop(immediate=True)
            res = c.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7"))
            assert res.status_code == 503 and res.json()["error"]["code"] == "store_unavailable"
            assert c.get("/healthz").status_code == 503
    finally:
        server.destroy()


def test_a_rule_that_fails_at_runtime_is_a_deny(make_gateway, tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("version: 1\nextends: recommended\nrules:\n  - {name: boom, effect: allow, "
                   "when: 'impact.deleted / impact.deleted == 1', message: m}\n")
    with TestClient(create_app(make_gateway(policy=pol))) as c:
        body = c.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()
    assert body["decision"]["effect"] == "deny" and body["decision"]["reasons"][0]["rule"] == "boom"
