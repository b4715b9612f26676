"""`blastwall mcp proxy`: put blastwall in front of any MCP server.

The upstream server (a stdio child) keeps its tools and its credentials; the
agent talks only to the proxy.  ``tools/list`` shows the upstream tools the
mapping makes visible.  Each ``tools/call`` becomes a proposal
(``ToolMapping.proposal``; an argument the mapping does not declare refuses the
call, since the call is forwarded whole): allow ⇒ forwarded and the upstream's result
returned; approve ⇒ an error naming the approval request (retry with
``_blastwall_grant``, redeemed before forwarding and never forwarded); deny,
hidden or unmapped ⇒ an error with the reason.  Nothing passes through silently.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from mcp import Client, StdioServerParameters
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.types import CallToolRequestParams, CallToolResult, ListToolsResult, PaginatedRequestParams, Tool

from blastwall.errors import ProposalError
from blastwall.integrations.guard import Guard, Stop, authorize
from blastwall.integrations.mapping import ToolMapping, Unmapped
from blastwall.integrations.mcp_results import failure, result, stopped

GRANT_ARG = "_blastwall_grant"
MAX_PAGES = 100
GRANT_SCHEMA = {"type": "string", "description": "blastwall: a grant id for an approved call (retry after approval)."}


def build_proxy(upstream: Client, mapping: ToolMapping, guard: Guard) -> Server:
    async def list_tools(ctx, params: PaginatedRequestParams | None) -> ListToolsResult:
        tools = [_with_grant_arg(t) for t in await _upstream_tools(upstream) if mapping.visible(t.name)]
        return ListToolsResult(tools=tools)

    async def call_tool(ctx, params: CallToolRequestParams) -> CallToolResult:
        name, args = params.name, dict(params.arguments or {})
        grant = args.pop(GRANT_ARG, None)
        retry = f"call {name} again with the same arguments plus \"{GRANT_ARG}\": the grant id"
        try:
            if not mapping.visible(name):
                raise Unmapped(f"tool '{name}' is not available through blastwall (unmapped or hidden); refused")
            if not (grant is None or isinstance(grant, str)):
                raise ProposalError(f"{GRANT_ARG} is a string", field=GRANT_ARG)
            doc = mapping.proposal(name, args, intent=f"MCP tool call {name} via blastwall proxy")
            decision = await anyio.to_thread.run_sync(authorize, guard, doc, grant)
        except Exception as exc:  # noqa: BLE001  refused, never forwarded
            return failure(exc)
        if isinstance(decision, Stop):
            return stopped(decision, guard.mode, retry)
        try:
            res = await upstream.call_tool(name, args)
        except Exception as exc:  # noqa: BLE001
            res = result(f"upstream MCP server failed: {exc}", error=True)
        await anyio.to_thread.run_sync(_report, guard, decision.proposal_id, name, grant, res)
        return res

    return Server("blastwall-proxy", instructions="Tools of an upstream MCP server, guarded by blastwall.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


async def _upstream_tools(upstream: Client) -> list[Tool]:
    tools, cursor = [], None
    for _ in range(MAX_PAGES):
        page = await upstream.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _with_grant_arg(tool: Tool) -> Tool:
    schema: dict[str, Any] = copy.deepcopy(tool.input_schema) or {"type": "object"}
    schema.setdefault("properties", {}).update({GRANT_ARG: GRANT_SCHEMA})
    return tool.model_copy(update={"input_schema": schema})


def _report(guard: Guard, proposal_id: str | None, tool: str, grant: str | None, res: CallToolResult) -> None:
    text = " ".join(getattr(c, "text", "") for c in res.content)[:2048]
    try:
        guard.report(proposal_id, {"via": "mcp-proxy", "tool": tool, "grant_id": grant,
                                   "is_error": res.is_error, "output": text})
    except Exception as exc:  # noqa: BLE001  the call already ran; tell the model the record is missing
        res.content.append(result(f"WARNING: the outcome could not be recorded in the audit log: {exc}").content[0])


async def run_proxy(mapping: ToolMapping, guard: Guard, command: list[str], env: Mapping[str, str]) -> None:
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(env))
    async with Client(params, cache=None) as upstream:
        server = build_proxy(upstream, mapping, guard)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
