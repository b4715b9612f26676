"""`run_command` and `kubectl` of `blastwall mcp serve` never run a command that shows credentials.

The executors run with the gateway's credentials, so a read of them would hand them to the agent.
"""
from __future__ import annotations

import sys

import pytest
from mcp import Client, StdioServerParameters

from tests.integrations.mcp_helpers import anyio_backend, blastwall_args, fleet, local_mode, text  # noqa: F401

pytestmark = pytest.mark.anyio
SECRET = "wJalrXUtnFEMI-not-a-real-key"
TOKEN = "ghp_not-a-real-token-123"


def server(env: dict) -> Client:
    params = StdioServerParameters(command=sys.executable, args=blastwall_args("mcp", "serve", *local_mode()),
                                   env=env)
    return Client(params, read_timeout_seconds=60)


async def test_credential_reads_are_refused_and_never_run(fleet, tmp_path):
    home = tmp_path / "home"
    credentials = home / ".aws" / "credentials"
    credentials.parent.mkdir(parents=True)
    credentials.write_text(f"[default]\naws_secret_access_key = {SECRET}\n")
    attempts = [["cat", str(credentials)], ["head", "-c", "4096", "/proc/self/environ"], ["env"], ["printenv"],
                ["printenv", "GITHUB_TOKEN"], ["base64", str(credentials)],
                ["grep", "-r", "secret", str(home / ".aws")],
                ["sudo", "cat", str(credentials)], ["bash", "-c", f"cat '{credentials}'"],
                ["terraform", "output", "-json"]]
    async with server(fleet.env(HOME=str(home), GITHUB_TOKEN=TOKEN)) as mcp:
        results = [await mcp.call_tool("run_command", {"argv": argv}) for argv in attempts]
        results.append(await mcp.call_tool("kubectl", {"args": ["config", "view", "--raw"]}))
        results.append(await mcp.call_tool("kubectl", {"args": ["get", "secret", "db", "-n", "web", "-o", "yaml",
                                                                "--context", "staging-us-east-1"]}))
    for argv, res in zip(attempts + [["kubectl config view --raw"], ["kubectl get secret -o yaml"]], results):
        assert res.is_error and res.structured_content["effect"] == "approve", (argv, text(res))
        assert SECRET not in text(res) and TOKEN not in text(res), argv
    assert fleet.kubectl_calls() == [] and fleet.terraform_calls() == []
