"""`blastwall mcp serve` as a real stdio subprocess, driven by the MCP SDK's own client."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from blastwall.integrations.client import Client as Service
from blastwall.integrations.executor import Runner, allowlisted_env
from tests.integrations.mcp_helpers import (agent_env, anyio_backend, audit, audit_head, blastwall_args,  # noqa: F401
                                            fleet, local_mode, service_mode, text)
from tests.service.conftest import token
from tests.service.procs import free_port

pytestmark = pytest.mark.anyio
TERRAFORM_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"

KIRO = [{"verb": "delete", "target": "env/prod-cn"}, {"verb": "create", "target": "env/prod-cn"}]
READ = ["get", "deployment", "web", "-n", "web", "--context", "staging-us-east-1"]
STAGED = ["delete", "namespace", "--all", "--context", "prod-cn-north-1"]
UNKNOWN = ["delete", "pod", "web-1", "-n", "web", "--context", "dev-us-east-1"]


def server(mode: list[str], env: dict, *extra: str, cwd=None) -> Client:
    params = StdioServerParameters(command=sys.executable, args=blastwall_args("mcp", "serve", *mode, *extra),
                                   env=env, cwd=str(cwd) if cwd else None)
    return Client(params, read_timeout_seconds=60)


# ---- local mode: the in-process engine -------------------------------------------------------

async def test_lists_the_tools_with_schemas(fleet):
    async with server(local_mode(), fleet.env()) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert set(tools) == {"propose_change", "approval_status", "kubectl", "terraform_apply", "run_command"}
    assert tools["kubectl"].input_schema["properties"]["args"]["type"] == "array"
    assert tools["run_command"].input_schema["required"] == ["argv"]


async def test_denial_is_an_error_with_the_explanation_and_the_alternative(fleet):
    async with server(local_mode(), fleet.env()) as mcp:
        res = await mcp.call_tool("propose_change", {"operations": KIRO, "intent": "recreate the environment"})
    assert res.is_error
    assert res.structured_content["effect"] == "deny"
    assert "DENIED" in text(res) and "Safer alternative: Split the change per region" in text(res)
    assert res.structured_content["impact"]["regions"] == ["cn-north-1", "cn-northwest-1"]


async def test_allowed_kubectl_runs_on_the_stand_in_fleet(fleet):
    async with server(local_mode(), fleet.env()) as mcp:
        res = await mcp.call_tool("kubectl", {"args": READ})
    assert not res.is_error, text(res)
    assert fleet.kubectl_calls() == [READ]
    assert "stand-in fleet: kubectl get deployment web" in text(res)
    assert res.structured_content["exit_code"] == 0 and res.structured_content["executed"]


async def test_denied_and_approval_needing_commands_never_run_locally(fleet):
    async with server(local_mode(), fleet.env()) as mcp:
        denied = await mcp.call_tool("kubectl", {"args": UNKNOWN})
        needs = await mcp.call_tool("run_command", {"argv": ["kubectl", *STAGED]})
        granted = await mcp.call_tool("kubectl", {"args": STAGED, "grant_id": "grant_made_up"})
        status = await mcp.call_tool("approval_status", {"request_id": "req_x"})
    assert denied.is_error and denied.structured_content["effect"] == "deny"
    assert "unknown" in text(denied)
    assert needs.is_error and needs.structured_content["effect"] == "approve"
    assert "cannot collect approvals" in text(needs)
    assert granted.is_error and "grants need the blastwall service" in text(granted)
    assert status.is_error
    assert fleet.kubectl_calls() == []


async def test_bad_input_is_refused_not_run(fleet):
    async with server(local_mode(), fleet.env()) as mcp:
        empty = await mcp.call_tool("run_command", {"argv": []})
        both = await mcp.call_tool("propose_change", {"argv": ["ls"], "command": "ls"})
        nothing = await mcp.call_tool("propose_change", {"intent": "?"})
    assert empty.is_error and "non-empty list" in text(empty)
    assert both.is_error and "at most one artifact" in text(both)
    assert nothing.is_error and "needs 'operations' or an artifact" in text(nothing)


async def test_commands_get_the_allowlisted_environment_only(fleet):
    env = agent_env(fleet, LD_PRELOAD="/nonexistent/libevil.so", BASH_ENV="/tmp/evil.sh", ENV="/tmp/evil.sh",
                    PROMPT_COMMAND="evil", KUBECONFIG="/etc/kube/config", AWS_REGION="cn-north-1",
                    AWS_SECRET_ACCESS_KEY="s3cr3t-value-123", SOMETHING_ELSE="x")
    # `env` itself may be judged (it prints credentials): let an allowed read print the environment instead
    (fleet.bin / "kubectl.py").write_text("import os\nprint('\\n'.join(f'{k}={v}' for k, v in os.environ.items()))\n")
    read = ["kubectl", "get", "deployment", "web", "-n", "web", "--context", "staging-us-east-1"]
    async with server(local_mode(), env) as mcp:
        res = await mcp.call_tool("run_command", {"argv": read})
    assert not res.is_error, text(res)
    seen = dict(line.split("=", 1) for line in res.structured_content["stdout"].splitlines() if "=" in line)
    for name in ("LD_PRELOAD", "BASH_ENV", "ENV", "PROMPT_COMMAND", "SOMETHING_ELSE", "BW_TOKEN"):
        assert name not in seen
    assert seen["KUBECONFIG"] == "/etc/kube/config" and seen["AWS_REGION"] == "cn-north-1"
    assert seen["PATH"].startswith(str(fleet.bin)) and seen["TF_IN_AUTOMATION"] == "1"
    assert "s3cr3t-value-123" not in text(res)              # credentials never reach the agent
    assert seen["AWS_SECRET_ACCESS_KEY"] == "[AWS_SECRET_ACCESS_KEY redacted]"


async def test_terraform_apply_runs_the_saved_plan_the_json_decided(fleet, tmp_path):
    for name in ("create", "destroy"):
        shutil.copy(TERRAFORM_FIXTURES / f"{name}.plan.json", tmp_path / f"{name}.tfplan.json")
        shutil.copy(TERRAFORM_FIXTURES / f"{name}.plan.json", tmp_path / f"{name}.tfplan")   # the fake's "binary"
    shutil.copy(TERRAFORM_FIXTURES / "destroy.plan.json", tmp_path / "swapped.tfplan")
    async with server(local_mode(), fleet.env()) as mcp:
        ok = await mcp.call_tool("terraform_apply", {"plan_json": str(tmp_path / "create.tfplan.json")})
        denied = await mcp.call_tool("terraform_apply", {"plan_json": str(tmp_path / "destroy.tfplan.json")})
        swapped = await mcp.call_tool("terraform_apply", {"plan_json": str(tmp_path / "create.tfplan.json"),
                                                          "plan_file": str(tmp_path / "swapped.tfplan")})
        missing = await mcp.call_tool("terraform_apply", {"plan_json": str(tmp_path / "create.plan.json")})
        judged = await mcp.call_tool("propose_change", {"terraform_plan_file": str(tmp_path / "destroy.tfplan.json")})
    assert not ok.is_error, text(ok)
    [(cwd, *applied)] = fleet.terraform_calls()
    assert cwd == str(tmp_path) and applied[:2] == ["apply", "-input=false"]
    assert applied[2].endswith("/create.tfplan") and applied[2] != str(tmp_path / "create.tfplan")  # a private copy
    assert denied.is_error and denied.structured_content["effect"] == "deny"
    assert swapped.is_error and "differ from the plan JSON" in text(swapped)
    assert missing.is_error and "create.plan.json: no such file" in text(missing)
    assert judged.is_error and judged.structured_content["effect"] == "deny"
    assert len(fleet.terraform_calls()) == 1


async def test_streamable_http_transport_needs_the_bearer_token(fleet):
    port = free_port()
    args = blastwall_args("mcp", "serve", *local_mode(), "--http", str(port), "--http-token-env", "MCP_TOKEN")
    proc = subprocess.Popen([sys.executable, *args], env=fleet.env(MCP_TOKEN="let-me-in"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = _wait_for_port(port)
        assert httpx.post(url, json={}).status_code == 401
        assert httpx.post(url, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        authed = httpx2.AsyncClient(headers={"Authorization": "Bearer let-me-in"})
        async with Client(streamable_http_client(url, http_client=authed)) as mcp:
            names = {t.name for t in (await mcp.list_tools()).tools}
            res = await mcp.call_tool("propose_change", {"operations": KIRO})
        assert "kubectl" in names
        assert res.is_error and res.structured_content["effect"] == "deny"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for_port(port: int, timeout: float = 30) -> str:
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("MCP HTTP server did not start")


# ---- service mode: decisions, approvals, grants and outcomes through `blastwall serve` ------------

async def test_approval_then_grant_runs_exactly_the_approved_command(fleet, service):
    head = audit_head(service)
    async with server(service_mode(service), agent_env(fleet)) as mcp:
        asked = await mcp.call_tool("kubectl", {"args": STAGED, "intent": "cn-north-1 first"})
        assert asked.is_error and asked.structured_content["effect"] == "approve"
        rid = asked.structured_content["approval_request_id"]
        assert f"approval request {rid}" in text(asked) and fleet.kubectl_calls() == []

        pending = await mcp.call_tool("approval_status", {"request_id": rid, "wait_seconds": 0.3})
        assert not pending.is_error and pending.structured_content["state"] == "pending"
        with Service(service.url, token("bob")) as bob:
            grant = bob.review(rid, "approve", "ok")["grant_id"]
        status = await mcp.call_tool("approval_status", {"request_id": rid, "wait_seconds": 5})
        assert status.structured_content["grant_id"] == grant

        other = await mcp.call_tool("kubectl", {"args": [*STAGED[:-1], "prod-cn-northwest-1"], "grant_id": grant})
        assert other.is_error and "different plan" in text(other)
        ran = await mcp.call_tool("kubectl", {"args": STAGED, "grant_id": grant})
        again = await mcp.call_tool("kubectl", {"args": STAGED, "grant_id": grant})
    assert not ran.is_error, text(ran)
    assert again.is_error and "already redeemed" in text(again)
    assert fleet.kubectl_calls() == [STAGED]
    records = audit(service, head)
    kinds = [r["kind"] for r in records]
    assert kinds == ["proposal", "decision", "approval_requested", "review", "grant",
                     "redeem_refused", "redeem", "execution", "redeem_refused"]
    execution = records[kinds.index("execution")]
    assert execution["payload"]["proposal_id"] == asked.structured_content["proposal_id"]
    assert execution["payload"]["outcome"]["exit_code"] == 0
    assert execution["payload"]["outcome"]["grant_id"] == grant


async def test_service_mode_allow_runs_and_deny_does_not(fleet, service):
    head = audit_head(service)
    async with server(service_mode(service), agent_env(fleet)) as mcp:
        allowed = await mcp.call_tool("kubectl", {"args": READ})
        denied = await mcp.call_tool("kubectl", {"args": UNKNOWN})
        proposed = await mcp.call_tool("propose_change", {"operations": KIRO})
    assert not allowed.is_error and allowed.structured_content["proposal_id"]
    assert denied.is_error and "Safer alternative" in text(denied)
    assert proposed.is_error and proposed.structured_content["proposal_id"]
    assert fleet.kubectl_calls() == [READ]
    assert [r["kind"] for r in audit(service, head)] == ["proposal", "decision", "execution",
                                                         "proposal", "decision", "proposal", "decision"]


async def test_a_grant_from_elsewhere_runs_its_exact_call_once(fleet, service):
    with Service(service.url, token("kiro-ops-7")) as agent, Service(service.url, token("bob")) as bob:
        made = agent.propose({"argv": ["kubectl", *STAGED]})
        grant = bob.review(made.approval_request_id, "approve")["grant_id"]
    async with server(service_mode(service), agent_env(fleet)) as mcp:
        other = await mcp.call_tool("kubectl", {"args": [*STAGED[:-1], "orders"], "grant_id": grant})
        ran = await mcp.call_tool("kubectl", {"args": STAGED, "grant_id": grant})
        replay = await mcp.call_tool("kubectl", {"args": STAGED, "grant_id": grant})
    assert other.is_error and not ran.is_error and replay.is_error, text(ran)
    assert fleet.kubectl_calls() == [STAGED]
    outcome = httpx.get(f"{service.url}/v1/proposals/{made.proposal_id}", headers={"Authorization": f"Bearer {token('bob')}"})
    assert outcome.json()["status"] == "executed"                   # reported against the approved proposal


async def test_unreachable_service_fails_closed(fleet):
    mode = ["--service", f"http://127.0.0.1:{free_port()}", "--token-env", "BW_TOKEN"]
    async with server(mode, agent_env(fleet)) as mcp:
        res = await mcp.call_tool("kubectl", {"args": READ})
    assert res.is_error and "unavailable" in text(res)
    assert fleet.kubectl_calls() == []


# ---- the executor itself ---------------------------------------------------------------------

def test_runner_bounds_output_and_time(tmp_path):
    runner = Runner(allowlisted_env(), timeout=1, max_output=2048)
    big = runner.run([sys.executable, "-c", "print('x' * 100000)"])
    assert big.ok and big.truncated and len(big.stdout) == 2048
    slow = runner.run([sys.executable, "-c", "import time; time.sleep(10)"])
    assert slow.timed_out and slow.exit_code is None and "timed out" in slow.error
    missing = runner.run(["no-such-program-here"])
    assert missing.exit_code is None and "not found" in missing.error
    shell = runner.run(["echo", "$HOME; touch", str(tmp_path / "pwned")])
    assert shell.stdout.strip() == f"$HOME; touch {tmp_path / 'pwned'}" and not (tmp_path / "pwned").exists()


def test_allowlisted_env_refuses_loader_and_shell_names():
    env = allowlisted_env({"PATH": "/bin", "LD_PRELOAD": "x", "BASH_ENV": "x", "PYTHONPATH": "x",
                           "AWS_PROFILE": "p", "TF_CLI_ARGS": "-destroy", "HOME": "() { evil; }"})
    assert env == {"PATH": "/bin", "AWS_PROFILE": "p", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    assert allowlisted_env({"PATH": "/bin", "MY_TOOL_HOME": "/x"}, extra=["MY_TOOL_HOME"])["MY_TOOL_HOME"] == "/x"
    for name in ("LD_LIBRARY_PATH", "BASH_ENV", "PYTHONPATH", "DYLD_INSERT_LIBRARIES"):
        with pytest.raises(ValueError):
            allowlisted_env({}, extra=[name])


def test_mcp_serve_needs_exactly_one_mode():
    run = subprocess.run([sys.executable, *blastwall_args("mcp", "serve")], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=60)
    assert run.returncode == 2 and "exactly one of --service URL or --inventory" in run.stderr
    run = subprocess.run([sys.executable, *blastwall_args("mcp", "serve", "--service", "http://x",
                                                          "--token-env", "NO_SUCH_VAR_SET")],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert run.returncode == 2 and "NO_SUCH_VAR_SET" in run.stderr
    run = subprocess.run([sys.executable, *blastwall_args("mcp", "serve", *local_mode(), "--http", "8999")],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert run.returncode == 2 and "--http needs --http-token-env" in run.stderr
