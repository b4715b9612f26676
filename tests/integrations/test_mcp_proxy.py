"""`blastwall mcp proxy` in front of a real upstream MCP server (upstream_server.py), via the SDK client."""
from __future__ import annotations

import json
import sys

import anyio
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, ListToolsResult, TextContent, Tool

from blastwall.engine import Engine
from blastwall.integrations.client import Client as Service
from blastwall.integrations.guard import LocalGuard
from blastwall.integrations.mapping import parse_mapping
from blastwall.integrations.mcp_proxy import GRANT_ARG, build_proxy
from tests.conftest import SAMPLE_FLEET
from tests.integrations.mcp_helpers import (HERE, agent_env, anyio_backend, audit, audit_head,  # noqa: F401
                                            blastwall_args, fleet, local_mode, service_mode, text)
from tests.service.conftest import token

pytestmark = pytest.mark.anyio

MAPPING = """
version: 1
tools:
  k8s_get: {verb: read, target: "k8s:{context}:{kind}:{namespace}/{name}"}
  k8s_delete: {verb: delete, target: "k8s:{context}:{kind}:{namespace}/{name}", unjudged: [timeout_seconds]}
  kubectl: {artifact: argv, from: args, program: kubectl}
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
    assert set(tools) == {"k8s_get", "k8s_delete", "k8s_delete_namespace", "kubectl"}   # not exec_in_pod, k8s_logs
    schema = tools["k8s_delete"].input_schema
    assert "_blastwall_grant" in schema["properties"]
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


async def test_undeclared_arguments_are_refused_never_forwarded(upstream, fleet):
    """k8s_delete of staging is allowed; any extra the mapping does not declare refuses it."""
    async with upstream.proxy(local_mode(), fleet.env()) as mcp:
        refused = {name: await mcp.call_tool("k8s_delete", {**DELETE_STAGING, name: value})
                   for name, value in (("all_namespaces", True), ("selector", "app=*"), ("force", True))}
        timed = await mcp.call_tool("k8s_delete", {**DELETE_STAGING, "timeout_seconds": 30})
    for name, res in refused.items():
        assert res.is_error and f"argument '{name}' of tool 'k8s_delete' is not judged" in text(res)
        assert res.structured_content["error"]["field"] == f"arguments.{name}"
    assert not timed.is_error
    assert upstream.calls() == [{"tool": "k8s_delete", "arguments": {**DELETE_STAGING, "timeout_seconds": 30}}]


async def test_a_kubectl_tool_is_judged_with_its_program_and_forwarded_without_it(upstream, fleet):
    read = ["get", "deployment", "web", "-n", "web", "--context", "staging-us-east-1"]
    async with upstream.proxy(local_mode(), fleet.env()) as mcp:
        got = await mcp.call_tool("kubectl", {"args": read})
        delete = await mcp.call_tool("kubectl", {"args": ["delete", "ns", "prod"]})
        smuggled = await mcp.call_tool("kubectl", {"args": read, "namespace": "kube-system"})
    assert not got.is_error and text(got) == "kubectl " + " ".join(read)
    assert delete.is_error and "kubectl delete ns prod (no --context)" in text(delete)
    assert "not a command the gateway can interpret" not in text(delete)
    assert smuggled.is_error and "argument 'namespace' of tool 'kubectl' is not judged" in text(smuggled)
    assert upstream.calls() == [{"tool": "kubectl", "arguments": {"args": read}}]


# ---- property: whatever extra argument arrives, the upstream never sees the call ---------------------

class RecordingUpstream:
    """Stands in for the upstream Client in-process: lists the mapped tools, records every call."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    async def list_tools(self, cursor=None) -> ListToolsResult:
        return ListToolsResult(tools=[Tool(name=n, input_schema={"type": "object"}) for n in ("k8s_get", "kubectl")])

    async def call_tool(self, name: str, arguments: dict) -> CallToolResult:
        self.calls.append((name, arguments))
        return CallToolResult(content=[TextContent(type="text", text="ran")])


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=6)
IN_PROCESS_MAPPING = parse_mapping(yaml.safe_load(MAPPING))
LOCAL_GUARD = LocalGuard(Engine.load(SAMPLE_FLEET), "kiro-ops-7", "alice")
ALLOWED = {"k8s_get": GET, "kubectl": {"args": ["get", "deployment", "web", "-n", "web", "--context",
                                                "staging-us-east-1"]}}
EXTRA_KEYS = st.text(min_size=1, max_size=16).filter(lambda k: k not in {*GET, "args", GRANT_ARG})


async def _call_in_process(tool: str, arguments: dict) -> tuple[CallToolResult, RecordingUpstream]:
    upstream = RecordingUpstream()
    async with Client(build_proxy(upstream, IN_PROCESS_MAPPING, LOCAL_GUARD)) as mcp:
        return await mcp.call_tool(tool, arguments), upstream


def test_in_process_proxy_forwards_the_allowed_calls():
    for tool, args in ALLOWED.items():
        res, upstream = anyio.run(_call_in_process, tool, args)
        assert not res.is_error and upstream.calls == [(tool, args)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(ALLOWED)), EXTRA_KEYS, JSON_VALUES)
def test_any_undeclared_argument_is_refused_and_never_forwarded(tool, key, value):
    res, upstream = anyio.run(_call_in_process, tool, {**ALLOWED[tool], key: value})
    assert res.is_error and upstream.calls == []
    assert res.structured_content["error"]["field"] == f"arguments.{key}"
