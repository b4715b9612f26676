"""Hooks against the governance service: real, unreachable, hanging; and a hook that never gets stdin."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import httpx
import pytest

from tests.integrations.hook_helpers import BLASTWALL, FLEET, MAPPING, ROOT, payload, run_hook
from tests.integrations.mcp_helpers import audit, audit_head
from tests.service.conftest import token
from tests.service.procs import Service, free_port

AGENT_TOKEN = {"BLASTWALL_TOKEN": token("coder-1")}


@pytest.fixture
def hanging_service():
    """A socket that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def service(tmp_path):
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}", inventory=FLEET).wait_ready()
    yield svc
    svc.kill()


def timed_hook(agent: str, url: str, timeout: str = "2"):
    started = time.monotonic()
    run = run_hook(agent, payload("claude-bash-read.json" if agent == "claude-code" else "kiro-execute-bash-read.json"),
                   "--service", url, "--timeout", timeout, env=AGENT_TOKEN)
    return run, time.monotonic() - started


@pytest.mark.parametrize("agent", ["claude-code", "kiro"])
def test_a_service_that_never_answers_blocks_within_the_timeout(agent, hanging_service):
    run, took = timed_hook(agent, hanging_service)
    assert (run.exit_code, run.stdout) == (2, "")
    assert "blocked (fail closed)" in run.stderr
    assert took < 2 + 5, took                    # 2 s budget plus interpreter start-up, never the 600 s agent limit


@pytest.mark.parametrize("agent", ["claude-code", "kiro"])
def test_an_unreachable_service_blocks(agent):
    run, took = timed_hook(agent, f"http://127.0.0.1:{free_port()}")
    assert (run.exit_code, run.stdout) == (2, "")
    assert "cannot reach blastwall" in run.stderr
    assert took < 10


def test_stdin_that_never_closes_blocks_within_the_timeout():
    """Kiro IDE 0.x opened a hook's stdin and never closed it; the deadline must still hold."""
    started = time.monotonic()
    proc = subprocess.Popen([*BLASTWALL, "hook", "kiro", "--inventory", str(FLEET), "--timeout", "1.5"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        proc.wait(timeout=20)                    # stdin stays open all along
        took = time.monotonic() - started
        err = proc.stderr.read().decode()
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 2
    assert "no decision within 1.5s" in err
    assert took < 1.5 + 5, took


def test_a_missing_token_blocks():
    env = {k: v for k, v in os.environ.items() if k != "BLASTWALL_TOKEN"}
    proc = subprocess.run([*BLASTWALL, "hook", "claude-code", "--service", "http://127.0.0.1:9"],
                          input=payload("claude-bash-read.json"), capture_output=True, env=env, cwd=ROOT)
    assert proc.returncode == 2
    assert "no service token: set BLASTWALL_TOKEN" in proc.stderr.decode()


def test_a_rejected_token_blocks(service):
    run = run_hook("claude-code", payload("claude-bash-read.json"), "--service", service.url,
                   env={"BLASTWALL_TOKEN": "not-a-token"})
    assert (run.exit_code, run.stdout) == (2, "")
    assert "blocked (fail closed)" in run.stderr


def test_service_allow_and_local_approvals(service):
    allowed = run_hook("claude-code", payload("claude-bash-read.json"), "--service", service.url, env=AGENT_TOKEN)
    assert (allowed.exit_code, allowed.permission) == (0, "allow")
    asked = run_hook("claude-code", payload("claude-bash-kubectl-delete-prod.json"), "--service", service.url,
                     env=AGENT_TOKEN)
    assert (asked.exit_code, asked.permission) == (0, "ask")
    assert "filed as approval request req_" in asked.output["permissionDecisionReason"]


def test_service_approvals_deny_with_the_request_and_the_command_that_approves_it(service):
    run = run_hook("claude-code", payload("claude-bash-kubectl-delete-prod.json"), "--service", service.url,
                   "--approvals", "service", "--mapping", str(MAPPING), env=AGENT_TOKEN)
    assert (run.exit_code, run.permission) == (2, "deny")
    reason = run.output["permissionDecisionReason"]
    assert "deletes 2 resource(s), degrades 4 more" in reason and "21,000 customers" in reason
    request_id = _approval_id(reason)
    assert run.stderr.strip() == reason
    request = httpx.get(f"{service.url}/v1/approvals/{request_id}",
                        headers={"Authorization": f"Bearer {token('alice')}"}).json()
    assert request["state"] == "pending"
    assert request["proposal"]["agent"] == "coder-1"
    approved = subprocess.run([*BLASTWALL, "approvals", "approve", request_id, "--url", service.url,
                               "--token", token("alice")], capture_output=True, cwd=ROOT)
    assert approved.returncode == 0, approved.stderr.decode()
    assert httpx.get(f"{service.url}/v1/approvals/{request_id}",
                     headers={"Authorization": f"Bearer {token('alice')}"}).json()["state"] == "approved"


def test_kiro_service_approvals_block_with_the_request(service):
    run = run_hook("kiro", payload("kiro-execute-bash-delete-prod.json"), "--service", service.url,
                   "--approvals", "service", env=AGENT_TOKEN)
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith("blastwall: BLOCKED PENDING APPROVAL kubectl delete namespace payments")
    assert f"blastwall approvals approve {_approval_id(run.stderr)}" in run.stderr


def _approval_id(reason: str) -> str:
    marker = "blastwall approvals approve "
    assert marker in reason, reason
    return reason.split(marker, 1)[1].split()[0]


# ---- a retry after approval spends the approved request's grant, once ------------------------------

def _approve(service, request_id: str, reviewer: str = "alice") -> None:
    res = httpx.post(f"{service.url}/v1/approvals/{request_id}/reviews", json={"verdict": "approve"},
                     headers={"Authorization": f"Bearer {token(reviewer)}"})
    assert res.status_code == 200 and res.json()["state"] == "approved", res.text


def _service_hook(service, agent: str, stdin: bytes):
    return run_hook(agent, stdin, "--service", service.url, "--approvals", "service", "--mapping", str(MAPPING),
                    env=AGENT_TOKEN)


@pytest.mark.parametrize("agent, name", [("claude-code", "claude-bash-kubectl-delete-prod.json"),
                                         ("claude-code", "claude-mcp-mapped-delete.json"),
                                         ("kiro", "kiro-execute-bash-delete-prod.json")])
def test_a_retry_after_approval_runs_once(service, agent, name):
    head = audit_head(service)
    blocked = _service_hook(service, agent, payload(name))
    assert blocked.exit_code == 2 and "then retry the identical call" in blocked.stderr
    request_id = _approval_id(blocked.stderr)
    _approve(service, request_id)

    retried = _service_hook(service, agent, payload(name))
    assert retried.exit_code == 0, retried.stderr
    if agent == "claude-code":
        reason = retried.output["permissionDecisionReason"]
        assert retried.permission == "allow" and reason.startswith("blastwall: ALLOW (APPROVED)")
        assert f"request {request_id} was approved; its grant grant_" in reason
    assert httpx.get(f"{service.url}/v1/approvals", params={"state": "pending"},           # the retry joined it
                     headers={"Authorization": f"Bearer {token('alice')}"}).json() == []

    again = _service_hook(service, agent, payload(name))
    assert again.exit_code == 2 and "BLOCKED PENDING APPROVAL" in again.stderr
    assert _approval_id(again.stderr) != request_id
    redeems = [r for r in audit(service, head) if r["kind"].startswith("redeem")]
    assert [r["kind"] for r in redeems] == ["redeem"]          # one grant spent, nothing refused


@pytest.mark.parametrize("agent, name, target", [
    ("claude-code", "claude-read-aws-credentials.json", "<credentials:Read:/root/.aws/credentials>"),
    ("kiro", "kiro-grep-home.json", "<credentials:grep:~>"),
])
def test_a_file_tool_naming_credentials_is_decided_and_recorded_by_the_service(service, agent, name, target):
    """Proposed like a shell command: the service decides (approve), files the request, records it."""
    head = audit_head(service)
    blocked = _service_hook(service, agent, payload(name))
    assert (blocked.exit_code, blocked.stdout == "") == (2, agent == "kiro")
    assert "BLOCKED PENDING APPROVAL" in blocked.stderr and target in blocked.stderr
    request_id = _approval_id(blocked.stderr)
    request = httpx.get(f"{service.url}/v1/approvals/{request_id}",
                        headers={"Authorization": f"Bearer {token('root')}"}).json()
    assert request["proposal"]["proposal"]["operations"] == [{"verb": "exec", "target": target}]
    assert any(target in json.dumps(record) for record in audit(service, head))
    _approve(service, request_id, reviewer="root")        # unknown targets: authority over everything
    retried = _service_hook(service, agent, payload(name))
    assert retried.exit_code == 0, retried.stderr
    assert _service_hook(service, agent, payload(name)).exit_code == 2      # the grant is spent


def test_an_approval_does_not_cover_a_different_call(service):
    blocked = _service_hook(service, "claude-code", payload("claude-bash-kubectl-delete-prod.json"))
    request_id = _approval_id(blocked.stderr)
    _approve(service, request_id)
    doc = json.loads(payload("claude-bash-kubectl-delete-prod.json"))
    doc["tool_input"]["command"] = doc["tool_input"]["command"].replace("payments", "orders")
    other = _service_hook(service, "claude-code", json.dumps(doc).encode())
    assert (other.exit_code, other.permission) == (2, "deny") and _approval_id(other.stderr) != request_id
    grant = httpx.get(f"{service.url}/v1/approvals/{request_id}",
                      headers={"Authorization": f"Bearer {token('alice')}"}).json()["grant"]
    assert grant["redeemed_at"] is None                                 # still there for the approved call
    assert _service_hook(service, "claude-code", payload("claude-bash-kubectl-delete-prod.json")).permission \
        == "allow"


def test_local_approvals_never_spend_a_grant(service):
    """Without --approvals service the user decides at the prompt; the hook keeps asking."""
    blocked = _service_hook(service, "claude-code", payload("claude-bash-kubectl-delete-prod.json"))
    _approve(service, _approval_id(blocked.stderr))
    asked = run_hook("claude-code", payload("claude-bash-kubectl-delete-prod.json"), "--service", service.url,
                     env=AGENT_TOKEN)
    assert (asked.exit_code, asked.permission) == (0, "ask")


# ---- every service call ends before the hook's deadline; a grant is not spent at its edge ---------------------

def test_a_client_deadline_cuts_every_call_short(hanging_service):
    from blastwall.integrations.client import Client, ServiceUnavailable
    started = time.monotonic()
    with Client(hanging_service, "t", timeout=30, deadline=started + 0.5) as client:
        with pytest.raises(ServiceUnavailable, match="cannot reach"):
            client.approval("req_x")                       # waits at most until the deadline, not 30 s
        assert time.monotonic() - started < 5
        with pytest.raises(ServiceUnavailable, match="no time left"):
            client.approval("req_x")                       # past it: nothing is sent


def test_an_approved_grant_is_not_spent_with_too_little_time_left(service):
    from blastwall.integrations.hooks import DIALECTS, REDEEM_TIME_S, HookSettings, Outcome, judge
    name = "claude-bash-kubectl-delete-prod.json"
    request_id = _approval_id(_service_hook(service, "claude-code", payload(name)).stderr)
    _approve(service, request_id)
    settings = HookSettings(service=service.url, token=token("coder-1"), approvals="service")

    late = judge(payload(name), DIALECTS["claude-code"], settings, time.monotonic() + REDEEM_TIME_S * 0.8)
    assert late.outcome is Outcome.DENY and f"request {request_id}" in late.reason
    grant = httpx.get(f"{service.url}/v1/approvals/{request_id}",
                      headers={"Authorization": f"Bearer {token('alice')}"}).json()["grant"]
    assert grant["redeemed_at"] is None                                # kept for a retry with time to run

    on_time = judge(payload(name), DIALECTS["claude-code"], settings, time.monotonic() + 10)
    assert on_time.outcome is Outcome.ALLOW and "ALLOW (APPROVED)" in on_time.reason
