"""`blastwall serve --workers 2`: two processes on one port and one SQLite store (their proposals
committed by the parent's writer), metrics added up."""
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from blastwall.audit.chain import verify
from blastwall.audit.export import iter_records
from blastwall.store.base import open_store
from tests.service.conftest import auth
from tests.conftest import SAMPLE_FLEET
from tests.service.procs import SERVE, Service, write_principals

ROUTINE = {"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}


def children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry))
        except OSError:
            continue
    return kids


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text()


def test_two_workers_share_the_port_the_store_the_kill_switch_and_the_metrics(tmp_path):
    db = tmp_path / "bw.db"
    svc = Service(tmp_path, f"sqlite:///{db}", extra_args=("--workers", "2")).wait_ready()
    try:
        workers = children(svc.proc.pid)
        assert len(workers) == 2
        shared = [cmdline(pid).split("--writer-socket\0")[1].split("\0")[0] for pid in workers]
        assert shared[0] == shared[1] and Path(shared[0]).is_socket()     # one writer, in the parent

        def propose(_):
            with httpx.Client(base_url=svc.url, headers=auth("kiro-ops-7"), timeout=30) as c:
                return [c.post("/v1/proposals", json=ROUTINE).json()["decision"]["effect"] for _ in range(5)]
        with ThreadPoolExecutor(8) as pool:
            effects = [e for batch in pool.map(propose, range(8)) for e in batch]
        assert effects == ["allow"] * 40
        metrics = httpx.get(svc.url + "/metrics").text               # whichever worker answers: the sum
        assert re.search(r'^blastwall_decisions_total\{effect="allow"\} 40\.0$', metrics, re.M), metrics

        res = httpx.post(svc.url + "/v1/kill-switch", json={"scope": "global", "engaged": True, "reason": "drill"},
                         headers=auth("bob"))
        assert res.status_code == 200
        for _ in range(6):                                          # every worker obeys at once
            decision = httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()
            assert decision["decision"]["effect"] == "deny"
    finally:
        svc.kill(15)
    assert svc.proc.returncode == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)   # no worker left behind
    store = open_store(f"sqlite:///{db}")
    try:
        records = list(iter_records(store))
        assert len(records) == 40 * 2 + 1 + 6 * 2 and verify(records, head=store.audit_head()).ok
    finally:
        store.close()


def test_workers_stop_when_the_parent_is_killed(tmp_path):
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}", extra_args=("--workers", "2")).wait_ready()
    workers = children(svc.proc.pid)
    assert len(workers) == 2
    svc.kill(9)                                                    # no chance to stop them itself
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "orphaned workers kept serving"


def test_a_second_service_on_the_same_port_fails_instead_of_sharing_it(tmp_path):
    """SO_REUSEPORT would let it join the first one's port group and take a share of its agents."""
    first = Service(tmp_path, f"sqlite:///{tmp_path / 'a.db'}", extra_args=("--workers", "2")).wait_ready()
    try:
        args = [sys.executable, "-c", SERVE, "serve", "--inventory", str(SAMPLE_FLEET),
                "--principals", str(write_principals(tmp_path / "other.yaml")), "--db", f"sqlite:///{tmp_path / 'b.db'}",
                "--port", str(first.port), "--workers", "2"]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "in use" in (proc.stderr + proc.stdout).lower()
    finally:
        first.kill(15)


def test_request_and_grant_lifetimes_reach_every_worker(tmp_path):
    from datetime import datetime
    ns_delete = {"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments",
                                                 "--context", "prod-cn-north-1"]}
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}",
                  extra_args=("--workers", "2", "--approval-ttl", "120", "--grant-ttl", "30")).wait_ready()
    try:
        lifetimes = set()
        for region in ("us-east-1", "eu-west-1", "cn-northwest-1", "cn-north-1"):   # new connections
            doc = {**ns_delete, "argv": [*ns_delete["argv"][:-1], f"prod-{region}"]}
            rid = httpx.post(svc.url + "/v1/proposals", json=doc, headers=auth("kiro-ops-7")).json()["approval_request_id"]
            req = httpx.get(f"{svc.url}/v1/approvals/{rid}", headers=auth("root")).json()
            lifetimes.add(datetime.fromisoformat(req["expires_at"]) - datetime.fromisoformat(req["created_at"]))
        assert {t.total_seconds() for t in lifetimes} == {120.0}
        for who in ("bob", "carol")[:req["approvers"]]:
            res = httpx.post(f"{svc.url}/v1/approvals/{rid}/reviews", json={"verdict": "approve"}, headers=auth(who))
        grant = httpx.get(f"{svc.url}/v1/approvals/{rid}", headers=auth("root")).json()["grant"]
        assert res.json()["state"] == "approved", res.text
        assert (datetime.fromisoformat(grant["expires_at"]) - datetime.fromisoformat(req["created_at"])).total_seconds() < 60
    finally:
        svc.kill(15)


def test_a_reload_through_the_api_reaches_every_worker(tmp_path):
    """Found by probing: POST /v1/admin/reload reloaded only the worker that answered it, so the
    same proposal was decided under two policies by turns."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nextends: recommended\n")
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}", policy=policy, extra_args=("--workers", "2")).wait_ready()
    try:
        before = httpx.get(svc.url + "/healthz").json()["policy_revision"]
        policy.write_text("version: 1\nextends: recommended\nfreezes:\n  - {name: all, start: 2000-01-01T00:00:00Z, "
                          "end: 2100-01-01T00:00:00Z}\n")
        res = httpx.post(svc.url + "/v1/admin/reload", headers=auth("root"))
        assert res.status_code == 200 and res.json()["policy_revision"] != before
        after = res.json()["policy_revision"]
        deadline, seen = time.monotonic() + 15, 0
        while seen < 20 and time.monotonic() < deadline:      # fresh connections land on either worker
            seen = seen + 1 if httpx.get(svc.url + "/healthz").json()["policy_revision"] == after else 0
        assert seen == 20, "a worker still serves the old policy"
        effects = {httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()
                   ["decision"]["effect"] for _ in range(30)}
        assert effects == {"deny"}
        reloads = [r for r in httpx.get(svc.url + "/v1/audit", headers=auth("root")).json() if r["kind"] == "reload"]
        actors = sorted(r["actor"] for r in reloads)      # the other worker follows, once (or, if it started
        assert actors in (["follow", "root"], ["root"])    # after the reload, read the new files at start)
    finally:
        svc.kill(15)


def test_a_reload_reads_the_principals_again_so_a_revoked_token_stops_at_once(tmp_path):
    """Revoking a compromised agent's token must not need a restart (found by probing: it did)."""
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}", extra_args=("--workers", "2")).wait_ready()
    principals = tmp_path / "principals.yaml"
    try:
        before = httpx.get(svc.url + "/healthz").json()["principals_revision"]
        assert httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).status_code == 200
        kept = principals.read_text()
        principals.write_text("principals: [ broken")
        res = httpx.post(svc.url + "/v1/admin/reload", headers=auth("root"))
        assert res.status_code == 400 and res.json()["error"]["code"] == "bad_input"      # the old ones serve on
        assert httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).status_code == 200

        doc = yaml.safe_load(kept)
        doc["principals"] = [p for p in doc["principals"] if p["name"] != "kiro-ops-7"]
        principals.write_text(yaml.safe_dump(doc))
        res = httpx.post(svc.url + "/v1/admin/reload", headers=auth("root"))
        assert res.status_code == 200 and res.json()["principals_revision"] != before
        deadline, refused = time.monotonic() + 15, 0
        while refused < 20 and time.monotonic() < deadline:    # on every worker, fresh connections
            status = httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).status_code
            refused = refused + 1 if status == 401 else 0
        assert refused == 20, "a worker still accepts the revoked token"
        assert httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("coder-1")).status_code == 200
    finally:
        svc.kill(15)
