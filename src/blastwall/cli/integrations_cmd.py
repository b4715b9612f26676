"""Agent front doors on the command line: `blastwall hook ...` (and, from its own helper, `mcp`)."""
from __future__ import annotations

import math
import os
import sys

import click

from blastwall.cli.main import cli

HOOK_TIMEOUT = 15.0
MAX_HOOK_TIMEOUT = 600.0          # the hook must answer before the agent gives up on it (and lets the call run)


@cli.group(help="Pre-tool-use hooks for coding agents. They fail closed: any error, timeout or "
                "unreachable service blocks the tool call (exit 2, reason on stderr).")
def hook() -> None:
    pass


def hook_options(fn):
    opts = [
        click.option("--inventory", type=click.Path(dir_okay=False), help="Inventory file (local decisions)."),
        click.option("--policy", type=click.Path(dir_okay=False), help="Policy file (local decisions)."),
        click.option("--service", "service", metavar="URL", help="Ask the governance service instead."),
        click.option("--token-env", default="BLASTWALL_TOKEN", show_default=True, metavar="VAR",
                     help="Environment variable holding the agent's service token."),
        click.option("--mapping", "mappings", multiple=True, metavar="[SERVER=]FILE",
                     help="MCP tool mapping (repeatable); SERVER= limits its bare tool names to that server."),
        click.option("--approvals", type=click.Choice(["local", "service"]), default="local", show_default=True,
                     help="approve => ask the user (local), or file an approval request and block (service)."),
        click.option("--timeout", type=click.FloatRange(0, MAX_HOOK_TIMEOUT, min_open=True), default=HOOK_TIMEOUT,
                     show_default=True,
                     help="Seconds before the hook blocks on its own; keep it below the agent's hook timeout."),
        click.option("--agent", default=None, help="Agent name for local decisions (default: the hook's name)."),
        click.option("--file-writes", type=click.Choice(["pass", "ask", "deny"]), default="pass",
                     show_default=True, help="Local file edits (Write/Edit, fs_write): no decision, ask or deny."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@hook.command("claude-code", help="Claude Code PreToolUse hook: JSON on stdin, permissionDecision on stdout.")
@hook_options
@click.option("--defer-allow", is_flag=True,
              help="On allow, print no decision so Claude Code's own permission prompts still apply.")
def hook_claude_code(**options):
    _run_hook("claude-code", options)


@hook.command("kiro", help="Kiro preToolUse hook: exit 0 allows, exit 2 blocks with the reason on stderr.")
@hook_options
def hook_kiro(**options):
    _run_hook("kiro", options)


def _run_hook(dialect_name: str, options: dict) -> None:
    from blastwall.integrations import hooks
    try:
        settings = _hook_settings(dialect_name, options)
        reply = hooks.respond_within(sys.stdin.buffer, hooks.DIALECTS[dialect_name], settings)
    except Exception as exc:  # noqa: BLE001  a hook that cannot start must still block
        reply = hooks.failure(str(exc) if isinstance(exc, hooks.HookFailure) else f"{type(exc).__name__}: {exc}")
    try:
        hooks.emit(reply, sys.stdout.buffer, sys.stderr.buffer)
    except Exception:  # noqa: BLE001  unsaid, an allow or a block alike: block (2), never a crash the agent passes
        hooks.exit_now(2)
    hooks.exit_now(reply.exit_code)


def _hook_settings(dialect_name: str, options: dict):
    from blastwall.integrations.hooks import HookFailure, HookSettings, Outcome
    if not math.isfinite(options["timeout"]):
        raise HookFailure("--timeout must be a number of seconds")
    service, inventory = options["service"], options["inventory"]
    if bool(service) == bool(inventory):
        raise HookFailure("give exactly one of --inventory (local decisions) or --service URL")
    if options["approvals"] == "service" and not service:
        raise HookFailure("--approvals service needs --service URL")
    if inventory is None and options["policy"]:
        raise HookFailure("--policy applies to local decisions; the service uses its own policy")
    token = os.environ.get(options["token_env"]) if service else None
    if service and not token:
        raise HookFailure(f"no service token: set {options['token_env']}")
    return HookSettings(inventory=inventory, policy=options["policy"], service=service, token=token,
                        mappings=tuple(_mapping(spec) for spec in options["mappings"]),
                        approvals=options["approvals"], timeout=options["timeout"],
                        agent=options["agent"] or dialect_name, file_writes=Outcome(options["file_writes"]),
                        defer_allow=options.get("defer_allow", False))


def _mapping(spec: str):
    from blastwall.integrations.hooks import MappingFile
    from blastwall.integrations.mapping import load_mapping
    server, sep, path = spec.partition("=")
    if not sep or os.path.exists(spec):
        server, path = "", spec
    return MappingFile(load_mapping(path), server or None)


# ---- mcp: the MCP server and proxy (src/blastwall/integrations/mcp_server.py, mcp_proxy.py) ----------

@cli.group(help="MCP front doors: a blastwall MCP server with guarded executors, and a proxy for any MCP server.")
def mcp() -> None:
    pass


def mcp_mode_options(fn):
    opts = [
        click.option("--service", metavar="URL", help="Decide, approve and audit through the governance service."),
        click.option("--token-env", default="BLASTWALL_TOKEN", show_default=True, metavar="VAR",
                     help="Environment variable holding the agent's service token."),
        click.option("--inventory", type=click.Path(dir_okay=False), help="Decide locally (no approvals)."),
        click.option("--policy", type=click.Path(dir_okay=False), help="Policy file for local decisions."),
        click.option("--agent", default="mcp-agent", show_default=True, help="Agent name for local decisions."),
        click.option("--operator", default="", help="Operator for local decisions."),
        click.option("--pass-env", "pass_env", multiple=True, metavar="NAME",
                     help="Also pass this environment variable to commands (never BASH_ENV, LD_*, ...)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@mcp.command("serve", help="MCP server (stdio, or streamable HTTP on 127.0.0.1 with --http PORT): "
                           "propose_change, approval_status and the guarded executors kubectl, "
                           "terraform_apply, run_command.")
@mcp_mode_options
@click.option("--http", "http_port", type=click.IntRange(1, 65535), default=None, metavar="PORT",
              help="Serve streamable HTTP on 127.0.0.1:PORT/mcp instead of stdio.")
@click.option("--http-token-env", metavar="VAR", default=None,
              help="With --http: environment variable holding the bearer token clients must send.")
@click.option("--timeout", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="Seconds an executed command may run.")
@click.option("--max-output", type=click.IntRange(min=1024), default=64 * 1024, show_default=True,
              help="Bytes of stdout and of stderr kept from a command.")
def mcp_serve(http_port, http_token_env, timeout, max_output, **mode):
    from blastwall.integrations.executor import Runner
    from blastwall.integrations.mcp_server import serve
    http_token = None
    if http_port is not None:
        http_token = os.environ.get(http_token_env or "")
        if not http_token:
            raise click.UsageError("--http needs --http-token-env VAR naming a set variable: "
                                   "clients must send Authorization: Bearer TOKEN")
    runner = Runner(_mcp_env(mode["pass_env"]), timeout=timeout, max_output=max_output)
    serve(_mcp_guard(mode), runner, http_port, http_token)


@mcp.command("proxy", help="Wrap an upstream MCP server (stdio): blastwall decides every tool call. "
                           "Usage: blastwall mcp proxy --config MAPPING.yaml [...] -- COMMAND [ARGS...]")
@click.option("--config", "config", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Tool mapping YAML.")
@mcp_mode_options
@click.argument("upstream", nargs=-1, required=True, type=click.UNPROCESSED)
def mcp_proxy(config, upstream, **mode):
    import anyio

    from blastwall.integrations.mapping import load_mapping
    from blastwall.integrations.mcp_proxy import run_proxy
    mapping = load_mapping(config)
    guard = _mcp_guard(mode)
    try:
        anyio.run(run_proxy, mapping, guard, list(upstream), _mcp_env(mode["pass_env"]))
    except OSError as exc:
        raise click.ClickException(f"cannot start the upstream MCP server {upstream[0]!r}: {exc}") from None


def _mcp_guard(mode: dict):
    from blastwall.engine import Engine
    from blastwall.integrations.client import Client
    from blastwall.integrations.guard import LocalGuard, ServiceGuard
    if bool(mode["service"]) == bool(mode["inventory"]):
        raise click.UsageError("give exactly one of --service URL or --inventory FILE")
    if mode["inventory"]:
        return LocalGuard(Engine.load(mode["inventory"], mode["policy"]), mode["agent"], mode["operator"])
    if mode["policy"]:
        raise click.UsageError("--policy applies to local decisions; the service uses its own policy")
    token = os.environ.get(mode["token_env"])
    if not token:
        raise click.UsageError(f"no service token: set {mode['token_env']}")
    return ServiceGuard(Client(mode["service"], token, timeout=30.0))


def _mcp_env(pass_env: tuple[str, ...]) -> dict:
    from blastwall.integrations.executor import allowlisted_env
    try:
        return allowlisted_env(extra=pass_env)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
