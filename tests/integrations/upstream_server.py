"""A small fake Kubernetes MCP server for the proxy tests (stdio).

    python upstream_server.py CALLS.jsonl

Every tool call is appended to CALLS.jsonl as {"tool": NAME, "arguments": {...}},
so a test can see exactly what reached the upstream (and what never did).
"""
from __future__ import annotations

import json
import sys

from mcp.server.mcpserver import MCPServer

LOG = sys.argv[1]
server = MCPServer("fake-k8s", log_level="WARNING")


def record(tool: str, arguments: dict) -> None:
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@server.tool(description="Get one object.")
def k8s_get(context: str, kind: str, namespace: str, name: str) -> str:
    record("k8s_get", {"context": context, "kind": kind, "namespace": namespace, "name": name})
    return f"{kind}/{name} in {namespace} on {context}: Running"


@server.tool(description="Delete one object (or, with the extras, far more: the proxy must judge them).")
def k8s_delete(context: str, kind: str, namespace: str, name: str, all_namespaces: bool = False,
               selector: str = "", force: bool = False, timeout_seconds: int = 0) -> str:
    extras = {"all_namespaces": all_namespaces, "selector": selector, "force": force,
              "timeout_seconds": timeout_seconds}
    record("k8s_delete", {"context": context, "kind": kind, "namespace": namespace, "name": name,
                          **{k: v for k, v in extras.items() if v}})
    return f"{kind}/{name} deleted from {namespace} on {context}"


@server.tool(description="Run kubectl; args are the words after the program name.")
def kubectl(args: list[str]) -> str:
    record("kubectl", {"args": args})
    return "kubectl " + " ".join(args)


@server.tool(description="Delete a namespace and everything in it.")
def k8s_delete_namespace(context: str, name: str) -> str:
    record("k8s_delete_namespace", {"context": context, "name": name})
    return f"namespace/{name} deleted on {context}"


@server.tool(description="Run a command in a pod.")
def exec_in_pod(context: str, namespace: str, pod: str, command: list[str]) -> str:
    record("exec_in_pod", {"context": context, "namespace": namespace, "pod": pod, "command": command})
    return "ran"


@server.tool(description="Read a pod's logs (not mapped: the proxy must refuse it).")
def k8s_logs(context: str, namespace: str, pod: str) -> str:
    record("k8s_logs", {"context": context, "namespace": namespace, "pod": pod})
    return "log lines"


if __name__ == "__main__":
    server.run("stdio")
