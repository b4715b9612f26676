"""`blastwall mcp proxy` in front of a real upstream MCP server (upstream_server.py), via the SDK client."""
from __future__ import annotations

import json
import sys

import pytest
from mcp import Client, StdioServerParameters

from blastwall.integrations.client import Client as Service
from tests.integrations.mcp_helpers import (HERE, agent_env, anyio_backend, audit, audit_head,  # noqa: F401
                                            blastwall_args, fleet, local_mode, service_mode, text)
from tests.service.conftest import token

pytestmark = pytest.mark.anyio

MAPPING = """
version: 1
tools:
  k8s_get: {verb: read, target: "k8s:{context}:{kind}:{namespace}/{name}"}
  k8s_delete: {verb: delete, target: "k8s:{context}:{kind}:{namespace}/{name}"}
  k8s_delete_namespace: {verb: delete, target: "k8s:{context}:namespace:{name}"}
  exec_in_pod: {verb: exec, target: "k8s:{context}:pod:{namespace}/{pod}"}
hidden: [exec_in_pod]
"""
GET = {"context": "staging-us-east-1", "kind": "deployment", "namespace": "web", "name": "web"}
DELETE_STAGING = {"context": "staging-us-east-1", "kind": "deployment", "namespace": "web", "name": "web"}
DELETE_UNKNOWN = {"context": "prod-mystery-1", "kind": "deployment", "namespace": "web", "name": "web"}
DELETE_PROD_NS = {"context": "prod-cn-north-1", "name": "orders"}


class Upstream:
    def __init__(self, tmp_path):
        self.log = tmp_path / "upstream-calls.jsonl"
        self.mapping = tmp_path / "mapping.yaml"
        self.mapping.write_text(MAPPING)

    def calls(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def proxy(self, mode: list[str], env: dict) -> Client:
        args = blastwall_args("mcp", "proxy", "--config", str(self.mapping), *mode,
                              "--", sys.executable, str(HERE / "upstream_server.py"), str(self.log))
        return Client(StdioServerParameters(command=sys.executable, args=args, env=env), read_timeout_seconds=60)


@pytest.fixture
def upstream(tmp_path):
    return Upstream(tmp_path)


async def test_lists_only_visible_tools_with_the_grant_argument(upstream, fleet):
    async with upstream.proxy(local_mode(), fleet.env()) as mcp:
        tools = {t.name: t for t in (await mcp.list_tools()).tools}
    assert set(tools) == {"k8s_get", "k8s_delete", "k8s_delete_namespace"}      # not exec_in_pod, not k8s_logs
    schema = tools["k8s_delete"].input_schema
    assert {"_blastwall_grant", "_blastwall_request"} <= set(schema["properties"])
    assert "_blastwall_grant" not in schema.get("required", [])
    assert {"context", "kind", "namespace", "name"} <= set(schema["required"])


async def test_unmapped_and_hidden_tools_are_refused_never_forwarded(upstream, fleet):
    async with upstream.proxy(local_mode(), fleet.env()) as mcp:
        logs = await mcp.call_tool("k8s_logs", {"context": "staging-us-east-1", "namespace": "web", "pod": "p"})
        hidden = await mcp.call_tool("exec_in_pod", {"context": "staging-us-east-1", "namespace": "web",
                                                     "pod": "p", "command": ["sh"]})
        bad = await mcp.call_tool("k8s_get", {"context": "staging-us-east-1", "kind": "deployment"})
    assert logs.is_error and "not available through blastwall" in text(logs)
    assert hidden.is_error and "refused" in text(hidden)
    assert bad.is_error and "missing argument 'namespace'" in text(bad)
    assert upstream.calls() == []


async def test_allowed_calls_are_forwarded_and_denied_never_reach_upstream(upstream, fleet):
    async with upstream.proxy(local_mode(), fleet.env()) as mcp:
        got = await mcp.call_tool("k8s_get", GET)
        deleted = await mcp.call_tool("k8s_delete", DELETE_STAGING)
        denied = await mcp.call_tool("k8s_delete", DELETE_UNKNOWN)
        needs = await mcp.call_tool("k8s_delete_namespace", DELETE_PROD_NS)
    assert not got.is_error and text(got) == "deployment/web in web on staging-us-east-1: Running"
    assert not deleted.is_error and "deleted" in text(deleted)
    assert denied.is_error and denied.structured_content["effect"] == "deny"
    assert "DENIED" in text(denied) and "Safer alternative" in text(denied)
    assert needs.is_error and "cannot collect approvals" in text(needs)
    assert upstream.calls() == [{"tool": "k8s_get", "arguments": GET},
                                {"tool": "k8s_delete", "arguments": DELETE_STAGING}]


async def test_approval_and_grant_path_through_the_service(upstream, fleet, service):
    head = audit_head(service)
    async with upstream.proxy(service_mode(service), agent_env(fleet)) as mcp:
        asked = await mcp.call_tool("k8s_delete_namespace", DELETE_PROD_NS)
        assert asked.is_error and asked.structured_content["effect"] == "approve"
        rid = asked.structured_content["approval_request_id"]
        assert rid in text(asked) and "_blastwall_grant" in text(asked)
        assert upstream.calls() == []
        with Service(service.url, token("erin")) as erin, Service(service.url, token("carol")) as carol:
            with pytest.raises(Exception, match="authority does not cover"):
                erin.review(rid, "approve")
            grant = carol.review(rid, "approve")["grant_id"]
        wrong = await mcp.call_tool("k8s_delete_namespace", {**DELETE_PROD_NS, "name": "payments",
                                                             "_blastwall_grant": grant})
        assert wrong.is_error and upstream.calls() == []
        done = await mcp.call_tool("k8s_delete_namespace", {**DELETE_PROD_NS, "_blastwall_grant": grant})
        denied = await mcp.call_tool("k8s_delete", DELETE_UNKNOWN)
    assert not done.is_error and text(done) == "namespace/orders deleted on prod-cn-north-1"
    assert denied.is_error and "Safer alternative" in text(denied)
    assert upstream.calls() == [{"tool": "k8s_delete_namespace", "arguments": DELETE_PROD_NS}]   # grant stripped
    records = audit(service, head)
    assert [r["kind"] for r in records] == ["proposal", "decision", "approval_requested", "review_rejected",
                                            "review", "grant", "redeem_refused", "redeem", "execution",
                                            "proposal", "decision"]
    execution = next(r for r in records if r["kind"] == "execution")
    assert execution["payload"]["outcome"]["tool"] == "k8s_delete_namespace"
    assert execution["payload"]["proposal_id"] == asked.structured_content["proposal_id"]
