"""Pre-tool-use hooks for coding agents: one tool call in, one verdict out, fail closed.

Formats followed (cited, not guessed):

* Claude Code: "Hooks reference", https://code.claude.com/docs/en/hooks (read as docs/hooks.md of
  the zhalice2011/claude-code-docs mirror): sections "Common input fields" and "PreToolUse input"
  (stdin: session_id, transcript_path, cwd, permission_mode, hook_event_name "PreToolUse",
  tool_name, tool_input, tool_use_id; Bash/PowerShell carry ``tool_input.command``; MCP tools are
  named ``mcp__<server>__<tool>``), "PreToolUse decision control" (stdout
  ``{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision":
  "allow"|"deny"|"ask", "permissionDecisionReason": ...}}``; the reason of a deny is shown to
  Claude, of an allow or ask to the user), "Exit code 0" (no output = no decision, the normal
  permission flow applies), "Exit code 2" (blocks whatever the JSON says; stderr is the reason),
  "Other exit codes" (non-blocking: the call proceeds) and "Timeouts" (a timed-out command hook
  does not block).
* Kiro CLI: "Hooks", https://kiro.dev/docs/cli/hooks (docs/hooks.md and docs/agent-format.md of
  aws/amazon-q-developer-cli): stdin ``{"hook_event_name": "preToolUse", "cwd", "tool_name",
  "tool_input"}``; built-in shell tool ``execute_bash`` with ``tool_input.command``; ``use_aws``
  with service_name / operation_name / region; MCP tools named ``@server/tool``; exit 0 allows,
  exit 2 blocks and returns stderr to the model, any other exit code only warns and lets the
  call run; hook timeout ``timeout_ms``, default 30,000 (a timed-out hook does not block).

Both agents let a crashed, slow or misconfigured hook through, so every failure here becomes
exit 2 with the reason on stderr, and the whole run is bounded by a deadline of our own.

Built-in file tools (Claude Code Read, Write, Edit, Grep, Glob ...; Kiro fs_read, fs_write, grep,
glob) touch no infrastructure and get no decision, except when a path argument names a credential
(``blastwall.core.interpret.credentials``) or a Grep searches a tree that holds credentials: such
a call is proposed to blastwall as an opaque operation, which needs approval, like the shell
command that would read the same file.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from blastwall.core.decide import summarize
from blastwall.core.display import printable
from blastwall.core.interpret import credentials
from blastwall.core.model import Impact
from blastwall.engine import Engine, local_files
from blastwall.errors import BlastwallError, ProposalError
from blastwall.integrations.mapping import ToolMapping

if TYPE_CHECKING:                 # guard imports httpx: only when a service is used
    from blastwall.integrations.guard import Redeemed

MAX_STDIN = 32 * 2**20
MAX_INTENT = 4_000
MAX_EXPLANATION = 2_000
BLOCKED = 2                       # the one exit code both agents treat as "block"
KIRO_CANNOT_ASK = ("\nblocked: a Kiro hook cannot ask a human. Ask your operator to approve and run it, "
                   "or run the hook with --service URL --approvals service to file an approval request.")


class HookFailure(Exception):
    """Anything that stops the hook from reaching a decision: blocked, reason on stderr."""


class Outcome(StrEnum):
    ALLOW = "allow"               # blastwall decided allow
    PASS = "pass"                 # not blastwall's business: no decision, the agent's own flow applies
    ASK = "ask"                   # needs a human: Claude Code asks the user, Kiro blocks
    DENY = "deny"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True)
class Reply:
    """What the hook process prints and how it exits."""
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class MappingFile:
    mapping: ToolMapping
    server: str | None = None     # bare tool names apply to this server only (None: any server)


@dataclass(frozen=True)
class HookSettings:
    inventory: str | None = None
    policy: str | None = None
    service: str | None = None
    token: str | None = None
    mappings: tuple[MappingFile, ...] = ()
    approvals: str = "local"      # local | service
    timeout: float = 15.0
    agent: str = ""               # local engine only; the service names the agent by its token
    file_writes: Outcome = Outcome.PASS
    defer_allow: bool = False     # Claude Code: print no decision on allow (keep its own prompts)


@dataclass(frozen=True)
class ToolCall:
    tool: str
    arguments: Mapping[str, Any]
    cwd: Path | None = None


@dataclass(frozen=True)
class Judged:
    """A proposal for blastwall, or a verdict reached without one."""
    proposal: dict | None = None
    verdict: Verdict | None = None
    shown: str = ""               # what the reason calls the call (a command, a tool name)


# ---------------------------------------------------------------- agent dialects

@dataclass(frozen=True)
class FileTool:
    """Which arguments of a built-in file tool name files (``file_path``, a glob) and whether
    the tool searches the contents of a directory tree (Grep: its ``path``, else the cwd)."""
    paths: tuple[str, ...]
    searches: bool = False


@dataclass(frozen=True)
class Dialect:
    name: str
    event: str
    shell_tools: frozenset[str]
    foreign_shell_tools: frozenset[str]     # shells whose grammar is not bash's: every command is opaque
    aws_tools: frozenset[str]
    file_write_tools: frozenset[str]
    local_tools: frozenset[str]
    file_tools: Mapping[str, FileTool]      # built-in tools whose paths are checked for credentials
    intent_key: str
    split_mcp: Callable[[str], tuple[str, str] | None]
    render: Callable[[Verdict, HookSettings], Reply] = field(repr=False)


def _claude_mcp(name: str) -> tuple[str, str] | None:
    """``mcp__<server>__<tool>`` (Hooks reference, "Match MCP tools")."""
    parts = name.split("__", 2)
    if len(parts) == 3 and parts[0] == "mcp" and parts[1] and parts[2]:
        return parts[1], parts[2]
    return None


def _kiro_mcp(name: str) -> tuple[str, str] | None:
    """``@<server>/<tool>`` (Kiro CLI Hooks, "MCP Example")."""
    if name.startswith("@") and "/" in name:
        server, tool = name[1:].split("/", 1)
        if server and tool:
            return server, tool
    return None


def _claude_reply(verdict: Verdict, settings: HookSettings) -> Reply:
    """PreToolUse decision control.  A deny also exits 2, which blocks on every version."""
    if verdict.outcome is Outcome.PASS or (verdict.outcome is Outcome.ALLOW and settings.defer_allow):
        return Reply()
    body = json.dumps({"hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": str(verdict.outcome),
        "permissionDecisionReason": verdict.reason}}, ensure_ascii=False)
    if verdict.outcome is Outcome.DENY:
        return Reply(body, verdict.reason, BLOCKED)
    return Reply(body)


def _kiro_reply(verdict: Verdict, settings: HookSettings) -> Reply:
    """Exit 0 lets the tool run; exit 2 blocks and hands stderr to the model.  No way to ask."""
    if verdict.outcome in (Outcome.ALLOW, Outcome.PASS):
        return Reply()
    if verdict.outcome is Outcome.ASK:
        return Reply(stderr=verdict.reason + KIRO_CANNOT_ASK, exit_code=BLOCKED)
    return Reply(stderr=verdict.reason, exit_code=BLOCKED)


CLAUDE_CODE = Dialect(
    name="claude-code", event="PreToolUse",
    shell_tools=frozenset({"Bash"}),
    foreign_shell_tools=frozenset({"PowerShell"}),
    aws_tools=frozenset(),
    file_write_tools=frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"}),
    local_tools=frozenset({"Read", "Grep", "Glob", "LS", "WebFetch", "WebSearch", "TodoWrite", "Task",
                           "Agent", "AskUserQuestion", "ExitPlanMode", "NotebookRead", "BashOutput",
                           "KillShell", "KillBash", "ListMcpResourcesTool", "ReadMcpResourceTool",
                           "SlashCommand", "Skill"}),
    file_tools={"Read": FileTool(("file_path",)), "Write": FileTool(("file_path",)),
                "Edit": FileTool(("file_path",)), "MultiEdit": FileTool(("file_path",)),
                "NotebookEdit": FileTool(("notebook_path",)), "NotebookRead": FileTool(("notebook_path",)),
                "Grep": FileTool(("path", "glob"), searches=True), "Glob": FileTool(("path", "pattern")),
                "LS": FileTool(("path",)), "WebFetch": FileTool(("url",))},
    intent_key="description", split_mcp=_claude_mcp, render=_claude_reply)

KIRO = Dialect(
    name="kiro", event="preToolUse",
    shell_tools=frozenset({"execute_bash", "shell"}),
    foreign_shell_tools=frozenset({"execute_cmd"}),          # Windows cmd.exe
    aws_tools=frozenset({"use_aws", "aws"}),
    file_write_tools=frozenset({"fs_write", "write"}),
    local_tools=frozenset({"fs_read", "read", "glob", "grep", "introspect", "knowledge", "thinking",
                           "todo_list", "gh_issue", "report_issue", "web_fetch", "web_search",
                           "delegate", "subagent"}),
    file_tools={**dict.fromkeys(("fs_read", "read"), FileTool(("path", "image_paths"))),
                **dict.fromkeys(("fs_write", "write"), FileTool(("path",))),
                "grep": FileTool(("path", "include"), searches=True), "glob": FileTool(("path", "pattern")),
                "web_fetch": FileTool(("url",))},
    intent_key="summary", split_mcp=_kiro_mcp, render=_kiro_reply)

DIALECTS = {d.name: d for d in (CLAUDE_CODE, KIRO)}


# ---------------------------------------------------------------- reading the payload

def read_payload(stream: BinaryIO) -> bytes:
    data = stream.read(MAX_STDIN + 1)
    if len(data) > MAX_STDIN:
        raise HookFailure(f"hook input larger than {MAX_STDIN >> 20} MiB")
    return data


def parse_call(raw: bytes, dialect: Dialect) -> ToolCall:
    if not raw.strip():
        raise HookFailure("empty hook input on stdin (expected the PreToolUse JSON)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HookFailure(f"hook input is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HookFailure("hook input must be a JSON object")
    event = doc.get("hook_event_name", dialect.event)
    if event != dialect.event:
        raise HookFailure(f"blastwall hook {dialect.name} handles {dialect.event} only, got {event!r}")
    tool, arguments = doc.get("tool_name"), doc.get("tool_input", {})
    if not isinstance(tool, str) or not tool:
        raise HookFailure("hook input has no tool_name")
    if not isinstance(arguments, dict):
        raise HookFailure("tool_input must be a JSON object")
    return ToolCall(tool, arguments, _directory(doc.get("cwd")))


def _directory(value: Any) -> Path | None:
    if isinstance(value, str) and value and Path(value).is_absolute() and Path(value).is_dir():
        return Path(value)
    return None


# ---------------------------------------------------------------- tool call -> proposal

def route(call: ToolCall, dialect: Dialect, settings: HookSettings) -> Judged:
    if call.tool in dialect.shell_tools:
        return _shell(call, dialect)
    if call.tool in dialect.foreign_shell_tools:
        return _foreign_shell(call, dialect)
    if call.tool in dialect.aws_tools:
        return _aws(call, dialect)
    mcp = dialect.split_mcp(call.tool)
    if mcp:
        return _mcp(call, mcp, settings)
    named = _credentials_named(call, dialect)
    if named and not (call.tool in dialect.file_write_tools and settings.file_writes is Outcome.DENY):
        return _credential_access(call, dialect, named)
    if call.tool in dialect.file_write_tools:
        return Judged(verdict=Verdict(settings.file_writes, _file_reason(call, settings.file_writes)))
    if call.tool in dialect.local_tools:
        return Judged(verdict=Verdict(Outcome.PASS))
    return Judged(verdict=Verdict(Outcome.ASK, f"blastwall: tool '{call.tool}' is unknown to blastwall, so "
                                               "it cannot judge what it touches; a human must decide."))


def _shell(call: ToolCall, dialect: Dialect) -> Judged:
    command = call.arguments.get("command")
    if not isinstance(command, str):
        raise HookFailure(f"{call.tool} call without a string tool_input.command")
    return Judged({"intent": _intent(call, dialect), "command": command}, shown=_short(command))


def _foreign_shell(call: ToolCall, dialect: Dialect) -> Judged:
    """A PowerShell or cmd.exe command: read with bash's grammar it would mean something else
    (``echo a\\; kubectl delete ...`` is one echo to bash, two commands to PowerShell), so it is
    proposed as what blastwall cannot judge: one opaque ``exec`` (approval, recorded)."""
    command = call.arguments.get("command")
    if not isinstance(command, str):
        raise HookFailure(f"{call.tool} call without a string tool_input.command")
    operations = [{"verb": "exec", "target": _opaque_target(call.tool, command)}]
    return Judged({"intent": _intent(call, dialect), "operations": operations}, shown=_short(command))


def _aws(call: ToolCall, dialect: Dialect) -> Judged:
    """use_aws -> the equivalent ``aws`` argv, judged like the CLI call it is."""
    args = call.arguments
    service, operation = args.get("service_name"), args.get("operation_name")
    if not isinstance(service, str) or not isinstance(operation, str):
        raise HookFailure(f"{call.tool} call without service_name and operation_name")
    argv = ["aws", _aws_word(service, "service_name"), _aws_word(operation, "operation_name")]
    for flag, key in (("--region", "region"), ("--profile", "profile_name")):
        if isinstance(args.get(key), str) and args[key]:
            argv += [flag, _aws_word(args[key], key)]
    parameters = args.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise HookFailure(f"{call.tool} parameters must be an object")
    for name, value in parameters.items():                  # judged too: they say which resources
        argv += ["--" + _aws_word(str(name), f"parameters.{name}").replace("_", "-"),
                 value if isinstance(value, str) else json.dumps(value, sort_keys=True)]
    return Judged({"intent": _intent(call, dialect, "label"), "argv": argv}, shown=_short(" ".join(argv)))


_AWS_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _aws_word(value: str, field: str) -> str:
    """A service, operation, region, profile or parameter name: one plain word, never an option
    or several words smuggled into the argv."""
    if not _AWS_WORD.fullmatch(value):
        raise HookFailure(f"use_aws {field} {value!r} is not a plain name")
    return value


def _mcp(call: ToolCall, server_tool: tuple[str, str], settings: HookSettings) -> Judged:
    server, tool = server_tool
    shown = f"MCP tool {call.tool}"
    if any(_hides(f, call.tool, server, tool) for f in settings.mappings):
        return Judged(verdict=Verdict(Outcome.DENY, f"blastwall: DENY {shown}: the mapping hides this tool; "
                                                    "agents may not use it."))
    found = next(_mapping_candidates(settings.mappings, call.tool, server, tool), None)
    if found is None:
        return Judged(verdict=Verdict(Outcome.DENY, f"blastwall: DENY {shown}: it is not mapped to operations, "
                                                    "so blastwall cannot see what it changes; refused. Map it in "
                                                    "the --mapping file to use it."))
    mapping, name = found
    try:
        return Judged(mapping.proposal(name, call.arguments), shown=shown)
    except ProposalError as exc:                 # unmapped (hidden) tool or a bad argument
        return Judged(verdict=Verdict(Outcome.DENY, f"blastwall: DENY {shown}: {exc.message}"))


def _hides(f: MappingFile, qualified: str, server: str, tool: str) -> bool:
    return qualified in f.mapping.hidden or (tool in f.mapping.hidden and f.server in (None, server))


def _mapping_candidates(files: tuple[MappingFile, ...], qualified: str, server: str, tool: str):
    """Qualified names first, then bare tool names from mappings that cover this server."""
    for f in files:
        if qualified in f.mapping.tools:
            yield f.mapping, qualified
    for f in files:
        if tool in f.mapping.tools and f.server in (None, server):
            yield f.mapping, tool


# ---------------------------------------------------------------- built-in file tools and credentials

def _credentials_named(call: ToolCall, dialect: Dialect) -> dict[str, str]:
    """The paths of a built-in file tool call that would show the agent a credential (or let it
    rewrite one, ``~/.kube/config``), each with why: a credential file or directory, or a tree
    that holds credentials and that the tool searches (Grep ``~``).  Empty for other calls."""
    tool = dialect.file_tools.get(call.tool)
    if tool is None:
        return {}
    verb = "writes" if call.tool in dialect.file_write_tools else "reads"
    named: dict[str, str] = {}
    for part in _parts(call.arguments):
        for path in (p for key in tool.paths for p in _paths(part, key)):
            found = _spelt(path, call.cwd, credentials.credential_path)
            if found:
                named.setdefault(found, f"{verb} credentials")
            found = _spelt(path, call.cwd, runs_later) if verb == "writes" else None
            if found:
                named.setdefault(found, "writes what later commands run (a config file, git hooks, shell start-up)")
        if tool.searches or part.get("mode") == "Search":           # Kiro fs_read: Search mode
            root = next(iter(_paths(part, "path")), ".")            # no path: the working directory
            found = _spelt(root, call.cwd, credentials.holds_credentials)
            if found:
                named.setdefault(found, "searches a tree that holds credentials")
    return named


# files whose content other commands execute: a git config (core.fsmonitor, diff.external: `git
# status` runs them), any file named config or config.worktree (git finds a repository by itself
# in a directory holding HEAD, config, objects/, refs/; submodules keep theirs under .git/modules),
# git hooks, shell start-up files, direnv's .envrc.  Any case: macOS ignores it.
_RUNS_LATER = re.compile(r"(^|/)(config|config\.worktree|\.git/(hooks(/.*)?|info/attributes)|\.gitconfig"
                         r"|\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zshenv|zprofile|zlogin|envrc))$",
                         re.IGNORECASE)


def runs_later(path: str) -> bool:
    """Writing this file changes what later commands, allowed as harmless reads, execute."""
    return bool(_RUNS_LATER.search(posixpath.normpath(path.replace("\\", "/"))))


def _parts(arguments: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tool input, and each operation of a batch (Kiro fs_read ``operations``)."""
    batch = arguments.get("operations")
    batch = batch if isinstance(batch, list) else []
    return [arguments, *(op for op in batch if isinstance(op, Mapping))]


def _paths(part: Mapping[str, Any], key: str) -> list[str]:
    """The path (or list of paths) under key; a URL only when it names a local file."""
    value = part.get(key)
    values = value if isinstance(value, list) else [value]
    paths = [v for v in values if isinstance(v, str) and v]
    return [v for v in paths if v.lower().startswith("file:")] if key == "url" else paths


def _spelt(path: str, cwd: Path | None, names_credentials: Callable[[str], bool]) -> str | None:
    """The path as given or, when relative, joined to the call's working directory: the first
    of them that names credentials, or None."""
    spellings = [path] if cwd is None or path.startswith(("/", "~", "$")) else [path, f"{cwd}/{path}"]
    return next((s for s in spellings if names_credentials(s)), None)


def _credential_access(call: ToolCall, dialect: Dialect, named: dict[str, str]) -> Judged:
    """Propose the call to blastwall as what it is, an action whose effect it cannot judge (one
    ``exec`` per path, never allowed: it needs approval), so that the service records it too."""
    shown = _short(f"{call.tool} " + "; ".join(f"{path} ({why})" for path, why in named.items()))
    operations = [{"verb": "exec", "target": _opaque_target(f"credentials:{call.tool}", path)} for path in named]
    return Judged({"intent": _intent(call, dialect) or shown, "operations": operations}, shown=shown)


def _opaque_target(what: str, text: str) -> str:
    """``<credentials:Read:/root/.aws/credentials>``, ``<PowerShell:Remove-Item?-Recurse...>``: no
    inventory id looks like it; a target may hold no whitespace nor control characters."""
    printable = "".join(ch if ch.isprintable() and not ch.isspace() else "?" for ch in text)
    return f"<{what}:{_short(printable, 300)}>"


def _intent(call: ToolCall, dialect: Dialect, key: str | None = None) -> str:
    value = call.arguments.get(key or dialect.intent_key)
    return value[:MAX_INTENT] if isinstance(value, str) else ""


def _file_reason(call: ToolCall, outcome: Outcome) -> str:
    path = call.arguments.get("file_path") or call.arguments.get("path") or "?"
    if outcome is Outcome.PASS:
        return ""
    return f"blastwall: file writes are configured to {outcome} ({call.tool} {_short(str(path))})."


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


# ---------------------------------------------------------------- proposal -> decision

@dataclass(frozen=True)
class Decided:
    decision: dict
    approval_request_id: str | None = None
    redeemed: Redeemed | None = None      # an approved request's grant, spent on this call


def decide_locally(proposal: dict, settings: HookSettings, cwd: Path | None) -> Decided:
    engine = Engine.load(settings.inventory, settings.policy)
    doc = {"agent": settings.agent, **proposal}
    return Decided(engine.decide(doc, files=local_files(cwd)).to_dict())


REDEEM_TIME_S = 1.0      # left before the deadline, or an approved grant is not spent on this run


def decide_by_service(proposal: dict, settings: HookSettings, deadline: float) -> Decided:
    """The service's decision; with --approvals service, an approve finds and spends the grant of
    an approved request for this exact call (the agent retrying after a human approved it).
    Every call ends before ``deadline``; a grant is spent only with REDEEM_TIME_S left, so the
    hook is not past its deadline (blocking the call) when the grant is gone."""
    from blastwall.integrations.client import Client     # httpx only when a service is used
    from blastwall.integrations.guard import redeem_approved
    with Client(settings.service, settings.token, timeout=settings.timeout, deadline=deadline) as client:
        result = client.propose(proposal)
        redeemed = None
        if (result.effect == "approve" and settings.approvals == "service" and result.approval_request_id
                and deadline - time.monotonic() >= REDEEM_TIME_S):
            redeemed = redeem_approved(client, proposal, result.approval_request_id)
    return Decided(result.decision, result.approval_request_id, redeemed)


def verdict_for(decided: Decided, shown: str, settings: HookSettings) -> Verdict:
    decision = decided.decision
    effect = decision.get("effect")
    if effect == "allow":
        return Verdict(Outcome.ALLOW, _reason("ALLOW", shown, decision))
    if effect == "approve" and decided.redeemed is not None:
        return Verdict(Outcome.ALLOW, _reason("ALLOW (APPROVED)", shown, decision,
                                              _approval_redeemed(decided.redeemed)))
    if effect == "approve" and settings.approvals == "service" and decided.approval_request_id:
        return Verdict(Outcome.DENY, _reason("BLOCKED PENDING APPROVAL", shown, decision,
                                             _approval_request(decided.approval_request_id, decision)))
    if effect == "approve":
        return Verdict(Outcome.ASK, _reason("NEEDS APPROVAL", shown, decision,
                                            _approval_needed(decision, decided.approval_request_id)))
    return Verdict(Outcome.DENY, _reason("DENY", shown, decision))


def _reason(label: str, shown: str, decision: dict, approval: str = "") -> str:
    lines = [f"blastwall: {label} {shown}".rstrip(), "impact: " + impact_summary(decision["impact"])]
    if approval:
        lines.append(approval)
    explanation = str(decision.get("explanation") or "")
    if explanation:
        lines.append("why: " + _short(explanation, MAX_EXPLANATION))
    lines.append(f"decision: {decision.get('decision_id', '?')}")
    return "\n".join(lines)


def impact_summary(impact: Mapping[str, Any]) -> str:
    """The engine's summary, then the first unknown targets by name (what the agent must fix)."""
    text = summarize(Impact.from_dict(impact))
    unknown = list(impact["unknown_targets"])
    if unknown:
        more = f" (+{len(unknown) - 3} more)" if len(unknown) > 3 else ""
        text += ": " + ", ".join(unknown[:3]) + more
    return text


def _scope(decision: dict) -> str:
    approval = decision.get("approval") or {}
    envs = ", ".join(approval.get("environments") or []) or "-"
    regions = ", ".join(approval.get("regions") or []) or "-"
    return f"{approval.get('approvers', 1)} approver(s) whose authority covers {envs} / {regions}"


def _approval_request(request_id: str, decision: dict) -> str:
    return (f"approval: request {request_id} needs {_scope(decision)}. A human approves it with: "
            f"blastwall approvals approve {request_id}  (review first: blastwall approvals show {request_id}); "
            "then retry the identical call: it runs once.")


def _approval_redeemed(redeemed: Redeemed) -> str:
    return (f"approval: request {redeemed.request_id} was approved; its grant {redeemed.grant_id} is spent "
            f"on this call (single use: a further call needs a new approval).")


def _approval_needed(decision: dict, request_id: str | None) -> str:
    recorded = f" (filed as approval request {request_id})" if request_id else ""
    return f"approval: needs {_scope(decision)}{recorded}"


# ---------------------------------------------------------------- the run, bounded and fail closed

def judge(raw: bytes, dialect: Dialect, settings: HookSettings, deadline: float) -> Verdict:
    call = parse_call(raw, dialect)
    judged = route(call, dialect, settings)
    if judged.verdict is not None:
        return judged.verdict
    try:
        if settings.service:
            decided = decide_by_service(judged.proposal, settings, deadline - reply_margin(settings))
        else:
            decided = decide_locally(judged.proposal, settings, call.cwd)
    except ProposalError as exc:                 # the call itself cannot be judged: refuse it
        return Verdict(Outcome.DENY, f"blastwall: DENY {judged.shown}: {exc}")
    return verdict_for(decided, judged.shown, settings)


def reply_margin(settings: HookSettings) -> float:
    """Kept back from the service calls for rendering the reply before the hook's own deadline."""
    return min(0.25, settings.timeout / 10)


def failure(reason: str) -> Reply:
    return Reply(stderr=f"blastwall hook: {reason}; the tool call is blocked (fail closed).", exit_code=BLOCKED)


def respond(stdin: BinaryIO, dialect: Dialect, settings: HookSettings, deadline: float) -> Reply:
    """Read the call, judge it, render the reply; every error becomes a blocking reply."""
    try:
        raw = read_payload(stdin)
        verdict = judge(raw, dialect, settings, deadline)
        # the agent's own text comes back in the reason, and a human's terminal may show it
        return dialect.render(replace(verdict, reason=printable(verdict.reason)), settings)
    except HookFailure as exc:
        return failure(str(exc))
    except BlastwallError as exc:
        return failure(f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001  a crash must block, never let the call through
        return failure(f"internal error ({type(exc).__name__}: {exc})")


def respond_within(stdin: BinaryIO, dialect: Dialect, settings: HookSettings) -> Reply:
    """respond() in a worker thread; past the timeout, block without waiting for it."""
    deadline = time.monotonic() + settings.timeout
    box: list[Reply] = []
    worker = threading.Thread(target=lambda: box.append(respond(stdin, dialect, settings, deadline)),
                              name="blastwall-hook", daemon=True)
    worker.start()
    worker.join(settings.timeout)
    if box:
        return box[0]
    where = f" from {settings.service}" if settings.service else ""
    return failure(f"no decision{where} within {settings.timeout:g}s")


def emit(reply: Reply, out: BinaryIO, err: BinaryIO) -> None:
    """UTF-8 bytes whatever the locale: an encoding error here would let the call through."""
    if reply.stdout:
        out.write((reply.stdout + "\n").encode("utf-8", "replace"))
    if reply.stderr:
        err.write((reply.stderr + "\n").encode("utf-8", "replace"))
    out.flush()
    err.flush()


def exit_now(code: int) -> None:
    """Exit without waiting for a worker still stuck on the network or stdin."""
    os._exit(code)
