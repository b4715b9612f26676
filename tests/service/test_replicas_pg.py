"""Two service replicas sharing a real PostgreSQL: limits stay exact, kill switch is seen at once."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.service.conftest import auth
from tests.service.procs import Service

ROUTINE = {"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}
LIMIT = 25


def test_rate_limit_is_exact_with_32_clients_on_two_replicas(tmp_path, pg_url):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nextends: recommended\nlimits:\n"
                      f"  - {{name: burst, per: agent, window: hour, changes: {LIMIT}}}\n")
    replicas = [Service(tmp_path, pg_url, policy=policy) for _ in range(2)]
    try:
        for r in replicas:
            r.wait_ready()
        start = threading.Barrier(32)

        def client(i: int) -> list[str]:
            url = replicas[i % 2].url
            with httpx.Client(base_url=url, headers=auth("kiro-ops-7"), timeout=30) as c:
                start.wait()
                return [c.post("/v1/proposals", json=ROUTINE).json()["decision"]["effect"] for _ in range(4)]
        with ThreadPoolExecutor(32) as pool:
            effects = [e for result in pool.map(client, range(32)) for e in result]
        assert len(effects) == 128
        assert effects.count("allow") == LIMIT
        assert effects.count("deny") == 128 - LIMIT
    finally:
        for r in replicas:
            r.kill(15)


def test_kill_switch_engaged_on_one_replica_stops_agents_on_the_other_within_a_second(tmp_path, pg_url):
    a, b = Service(tmp_path, pg_url), Service(tmp_path, pg_url)
    try:
        a.wait_ready(), b.wait_ready()
        assert httpx.post(b.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()["decision"]["effect"] == "allow"
        res = httpx.post(a.url + "/v1/kill-switch", json={"scope": "global", "engaged": True, "reason": "drill"},
                         headers=auth("bob"))
        assert res.status_code == 200
        engaged_at = time.monotonic()
        effect = httpx.post(b.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()["decision"]["effect"]
        assert effect == "deny" and time.monotonic() - engaged_at < 1.0
    finally:
        a.kill(15), b.kill(15)


def test_limits_stay_exact_with_two_replicas_of_two_workers_each(tmp_path, pg_url):
    """Each replica's workers commit through their parent's writer; the replicas share PostgreSQL."""
    from blastwall.audit.chain import verify
    from blastwall.audit.export import iter_records
    from blastwall.store.base import open_store
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nextends: recommended\nlimits:\n"
                      f"  - {{name: burst, per: agent, window: hour, changes: {LIMIT}}}\n")
    replicas = [Service(tmp_path, pg_url, policy=policy, extra_args=("--workers", "2")) for _ in range(2)]
    try:
        for r in replicas:
            r.wait_ready()
        start = threading.Barrier(32)

        def client(i: int) -> list[str]:
            with httpx.Client(base_url=replicas[i % 2].url, headers=auth("kiro-ops-7"), timeout=30) as c:
                start.wait()
                return [c.post("/v1/proposals", json=ROUTINE).json()["decision"]["effect"] for _ in range(4)]
        with ThreadPoolExecutor(32) as pool:
            effects = [e for result in pool.map(client, range(32)) for e in result]
        assert effects.count("allow") == LIMIT and effects.count("deny") == 128 - LIMIT
    finally:
        for r in replicas:
            r.kill(15)
    store = open_store(pg_url)
    try:
        records = list(iter_records(store))
        assert len([r for r in records if r.kind == "decision"]) == 128
        assert verify(records, head=store.audit_head()).ok
    finally:
        store.close()


def test_a_reload_on_one_replica_is_followed_by_the_other(tmp_path, pg_url):
    """Replicas share the store, not a parent: the reload generation in the store carries it."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nextends: recommended\n")
    a, b = Service(tmp_path, pg_url, policy=policy), Service(tmp_path, pg_url, policy=policy)
    try:
        a.wait_ready(), b.wait_ready()
        before = httpx.get(b.url + "/healthz").json()["policy_revision"]
        policy.write_text("version: 1\nextends: recommended\nfreezes:\n  - {name: all, start: 2000-01-01T00:00:00Z, "
                          "end: 2100-01-01T00:00:00Z}\n")
        after = httpx.post(a.url + "/v1/admin/reload", headers=auth("root")).json()["policy_revision"]
        assert after != before
        deadline = time.monotonic() + 10
        while httpx.get(b.url + "/healthz").json()["policy_revision"] != after:
            assert time.monotonic() < deadline, "replica b never followed the reload"
            time.sleep(0.1)
        res = httpx.post(b.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()
        assert res["decision"]["effect"] == "deny" and res["decision"]["provenance"]["policy_revision"] == after
        kinds = [(r["kind"], r["actor"]) for r in httpx.get(a.url + "/v1/audit", params={"limit": 1000},
                                                            headers=auth("root")).json() if r["kind"] == "reload"]
        assert sorted(kinds) == [("reload", "follow"), ("reload", "root")]
    finally:
        a.kill(15), b.kill(15)
