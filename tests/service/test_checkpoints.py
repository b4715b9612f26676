"""Signed checkpoints at a fixed cadence from a real `blastwall serve`, checked by `blastwall audit verify`."""
import sqlite3
import stat
import subprocess
import sys
import time

import httpx
from fastapi.testclient import TestClient

from blastwall.audit.checkpoint import Checkpoint, generate_key, load_public_key
from blastwall.service.app import create_app
from blastwall.service.checkpoints import CheckpointThread, signing_key
from tests.service.conftest import auth
from tests.service.procs import Service

ROUTINE = {"intent": "restart", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}
CLI = "from blastwall.cli.main import main; main()"


def verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, "audit", "verify", *args], capture_output=True, text=True,
                          timeout=120)


def wait_for_checkpoint(url: str, covering: int, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = httpx.get(url + "/v1/audit/checkpoints", headers=auth("root"))
        if res.status_code == 200 and Checkpoint.from_text(res.text).size >= covering:
            return res.text
        time.sleep(0.1)
    raise AssertionError(f"no checkpoint covering {covering} records within {timeout} s")


def test_serve_signs_checkpoints_that_audit_verify_checks(tmp_path):
    key, db = tmp_path / "keys" / "audit.key", tmp_path / "bw.db"
    key.parent.mkdir()
    svc = Service(tmp_path, f"sqlite:///{db}", extra_args=(
        "--checkpoint-key", str(key), "--checkpoint-every", "10", "--checkpoint-seconds", "3600")).wait_ready()
    try:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "keys" / "audit.key.pub").is_file()
        assert httpx.get(svc.url + "/v1/audit/checkpoints", headers=auth("root")).status_code == 404
        for _ in range(6):                                     # 2 records each: over the cadence of 10
            assert httpx.post(svc.url + "/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).status_code == 200
        text = wait_for_checkpoint(svc.url, covering=10)
    finally:
        svc.kill(15)
    assert "audit.key.pub" in (tmp_path / f"serve-{svc.port}.log").read_text()
    exported = tmp_path / "checkpoint.txt"
    exported.write_text(text)
    args = ("--db", f"sqlite:///{db}", "--checkpoint", str(exported), "--public-key", f"{key}.pub")
    ok = verify(*args)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "consistent with checkpoint" in ok.stdout
    with sqlite3.connect(db) as conn:                         # an insider edits one record
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    tampered = verify(*args)
    assert tampered.returncode == 1 and "TAMPERING FOUND" in tampered.stdout


def test_a_restarted_service_keeps_its_key(tmp_path):
    key = tmp_path / "audit.key"
    first, public, created = signing_key(key)
    again, _, created_again = signing_key(key)
    assert created and not created_again
    assert load_public_key(public).public_bytes_raw() == again.public_key().public_bytes_raw()


def test_the_thread_checkpoints_on_cadence_and_the_route_serves_the_latest(gateway, tmp_path):
    key = generate_key(tmp_path / "k")
    thread = CheckpointThread(gateway.store, key, every_records=4, every_seconds=3600, clock=gateway.clock)
    with TestClient(create_app(gateway)) as client:
        assert thread.tick() is None                          # nothing recorded yet
        for _ in range(2):
            client.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7"))
        made = thread.tick()
        assert made is not None and made.size == 4 and made.verify(key.public_key())
        assert thread.tick() is None                          # nothing new since
        res = client.get("/v1/audit/checkpoints", headers=auth("root"))
        assert res.status_code == 200 and Checkpoint.from_text(res.text) == made
        assert client.get("/v1/audit/checkpoints").status_code == 401


def test_a_broken_chain_is_reported_once_and_never_signed(gateway, tmp_path):
    reports = []
    thread = CheckpointThread(gateway.store, generate_key(tmp_path / "k"), every_records=1, every_seconds=3600,
                              clock=gateway.clock, report=reports.append)
    gateway.store.transact(lambda tx: tx.audit("note", "root", {"n": 1}, gateway.clock()))
    with sqlite3.connect(gateway.store.path) as conn:
        conn.execute("UPDATE audit_log SET payload = '{\"n\":2}' WHERE seq = 1")
    assert thread.tick() is None and thread.tick() is None
    assert len(reports) == 1 and "AUDIT CHAIN BROKEN" in reports[0]
    assert gateway.store.checkpoints() == []
