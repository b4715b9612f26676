"""SIGKILL the service at random moments while agents submit: nothing acknowledged is lost."""
import random
import threading
import time

import httpx

from blastwall.audit.chain import verify
from blastwall.store.base import open_store
from tests.service.conftest import auth
from tests.service.procs import Service

ROUNDS = 40
DOCS = [{"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]},
        {"intent": "clean", "argv": ["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"]},
        {"intent": "kiro", "operations": [{"verb": "delete", "target": "env/prod-cn"}]}]


def submit_until_dead(url: str, agent: str, acked: list, rng: random.Random) -> None:
    with httpx.Client(base_url=url, headers=auth(agent), timeout=5) as client:
        while True:
            try:
                res = client.post("/v1/proposals", json=rng.choice(DOCS))
            except httpx.HTTPError:
                return
            if res.status_code == 200:
                acked.append(res.json()["proposal_id"])


def test_sigkill_at_random_moments_loses_no_acknowledged_record(tmp_path):
    rng = random.Random(20241213)
    db = f"sqlite:///{tmp_path / 'bw.db'}"
    acked: list[str] = []
    for _ in range(ROUNDS):
        service = Service(tmp_path, db).wait_ready()
        clients = [threading.Thread(target=submit_until_dead,
                                    args=(service.url, agent, acked, random.Random(rng.random())))
                   for agent in ("kiro-ops-7", "coder-1", "kiro-ops-7", "coder-1")]
        for c in clients:
            c.start()
        time.sleep(rng.uniform(0.02, 0.4))
        service.kill()
        for c in clients:
            c.join(timeout=30)
    store = open_store(db)
    try:
        stored = {p["id"] for p in store.list_proposals(limit=10**6)}
        records = store.audit_records(limit=10**7)
    finally:
        store.close()
    assert len(acked) > ROUNDS, "the clients should have been acknowledged many times"
    assert set(acked) <= stored
    result = verify(records)
    assert result.ok, result
    proposals_in_log = {r.payload["proposal_id"] for r in records if r.kind == "proposal"}
    assert set(acked) <= proposals_in_log
