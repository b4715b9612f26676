"""Properties: whatever arrives on stdin, a destructive kubectl/terraform command is never allowed,
nor an MCP call carrying an argument its mapping does not declare."""
from __future__ import annotations

import io
import json
import re
import time
from dataclasses import replace
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastwall.core.display import printable
from blastwall.engine import Engine
from blastwall.integrations import hooks
from blastwall.integrations.mapping import load_mapping
from tests.integrations.hook_helpers import FLEET, MAPPING
from tests.interpret.credential_spellings import HOMES, credential_paths

ENGINE = Engine.load(FLEET)
LOCAL = hooks.HookSettings(inventory=str(FLEET), agent="prop")
MAPPED = replace(LOCAL, mappings=(hooks.MappingFile(load_mapping(MAPPING)),))
MCP_GET_PODS = {"claude-code": "mcp__kubernetes__get_pods", "kiro": "@kubernetes/get_pods"}
GET_PODS = {"context": "prod-us-east-1", "namespace": "web"}            # allowed on its own
SHELL_TOOL = {"claude-code": "Bash", "kiro": "execute_bash"}

# Each is denied or needs approval on the acme fleet when it runs on its own.
DESTRUCTIVE = [
    ["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"],
    ["kubectl", "delete", "ns", "payments", "--context=prod-cn-north-1"],
    ["kubectl", "--context", "prod-us-east-1", "delete", "deployment", "web", "-n", "web"],
    ["kubectl", "delete", "namespace", "web", "--context", "prod-eu-west-1", "--wait=false"],
    ["kubectl", "-n", "payments", "delete", "all", "--all", "--context", "prod-cn-north-1"],
    ["terraform", "destroy", "-auto-approve"],
    ["terraform", "destroy"],
    ["terraform", "-chdir=infra/prod", "apply", "-destroy", "-auto-approve"],
]
BENIGN = ["ls -la", "echo done", "git status", "pwd", "true", "kubectl get pods -n web --context prod-us-east-1",
          "cat README.md"]
WRAPPERS = ["{}", "bash -c '{}'", "sh -c '{}'", "sudo {}", "env KUBECONFIG=/tmp/k {}", "timeout 60 {}",
            "nohup {}", "sudo -E bash -c '{}'", "cd /tmp && {}", "({})", "{{ {}; }}"]
SEPARATORS = ["; ", " && ", "\n", " | ", " ;"]
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=8)


@st.composite
def destructive_commands(draw) -> str:
    words = draw(st.sampled_from(DESTRUCTIVE))
    core = draw(st.sampled_from([" ", "  ", "\t"])).join(words)
    core = draw(st.sampled_from(WRAPPERS)).format(core)
    before = draw(st.lists(st.sampled_from(BENIGN), max_size=2))
    after = draw(st.lists(st.sampled_from(BENIGN), max_size=2))
    parts = [*before, core, *after]
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(SEPARATORS)) + part
    return text


@st.composite
def hook_stdin(draw, agent: str) -> bytes:
    """A PreToolUse payload with a destructive shell command and arbitrary extra fields."""
    doc = draw(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=4))
    tool_input = draw(st.dictionaries(st.sampled_from(["description", "summary", "timeout", "run_in_background",
                                                       "x"]), JSON_VALUES, max_size=3))
    tool_input["command"] = draw(destructive_commands())
    doc.update(tool_name=SHELL_TOOL[agent], tool_input=tool_input)
    if draw(st.booleans()):
        doc["hook_event_name"] = hooks.DIALECTS[agent].event
    for key in ("session_id", "cwd", "permission_mode", "transcript_path", "tool_use_id"):
        if draw(st.booleans()):
            doc[key] = draw(JSON_VALUES)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 0, 2])))
    before, after = draw(st.sampled_from(["", " ", "\n", "\ufeff"])), draw(st.sampled_from(["", "\n", " \r\n"]))
    return (before + text + after).encode()


def reply_for(agent: str, stdin: bytes, settings: hooks.HookSettings = LOCAL) -> hooks.Reply:
    with mock.patch.object(hooks.Engine, "load", lambda *a, **k: ENGINE):
        return hooks.respond(io.BytesIO(stdin), hooks.DIALECTS[agent], settings, time.monotonic() + 60)


def allowed(agent: str, reply: hooks.Reply) -> bool:
    """Would the agent run the tool?  Claude Code: exit 0 without ask/deny; Kiro: exit 0."""
    if reply.exit_code == 2:
        return False
    if agent == "kiro" or not reply.stdout:
        return True
    return json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]), data=st.data())
def test_destructive_commands_are_never_allowed_whatever_surrounds_them(agent, data):
    stdin = data.draw(hook_stdin(agent))
    reply = reply_for(agent, stdin)
    assert not allowed(agent, reply), (stdin, reply)
    assert reply.exit_code in (0, 2)


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]), stdin=st.binary(max_size=300))
def test_random_bytes_are_never_allowed(agent, stdin):
    reply = reply_for(agent, stdin)
    assert reply.exit_code == 2 or not allowed(agent, reply) or _is_harmless_object(stdin)


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]), data=st.data())
def test_cutting_a_payload_short_never_allows(agent, data):
    stdin = data.draw(hook_stdin(agent))
    cut = data.draw(st.integers(min_value=0, max_value=len(stdin) - 1))
    reply = reply_for(agent, stdin[:cut])
    assert not allowed(agent, reply), (stdin[:cut], reply)


def mcp_stdin(agent: str, tool_input: dict) -> bytes:
    return json.dumps({"hook_event_name": hooks.DIALECTS[agent].event, "cwd": "/tmp",
                       "tool_name": MCP_GET_PODS[agent], "tool_input": tool_input}).encode()


def test_the_mapped_mcp_call_is_allowed_on_its_own():
    for agent in ("claude-code", "kiro"):
        assert allowed(agent, reply_for(agent, mcp_stdin(agent, GET_PODS), MAPPED))


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]),
       key=st.text(min_size=1, max_size=16).filter(lambda k: k not in GET_PODS), value=JSON_VALUES)
def test_an_undeclared_mcp_argument_is_never_allowed(agent, key, value):
    reply = reply_for(agent, mcp_stdin(agent, {**GET_PODS, key: value}), MAPPED)
    assert reply.exit_code == 2 and not allowed(agent, reply), reply
    assert f"argument '{printable(key)}' of tool 'get_pods' is not judged" in reply.stderr   # shown visibly


def _is_harmless_object(stdin: bytes) -> bool:
    """Random bytes that happen to be a tool call blastwall may let pass (never a shell command)."""
    try:
        doc = json.loads(stdin)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("tool_name") not in SHELL_TOOL.values()


# ---- built-in file tools: a credential path is never read, searched or written unapproved ----------

# (tool, the argument that names the path); None: Kiro fs_read's `operations` batch
FILE_TOOLS = {"claude-code": [("Read", "file_path"), ("Write", "file_path"), ("Edit", "file_path"),
                              ("MultiEdit", "file_path"), ("NotebookEdit", "notebook_path"),
                              ("NotebookRead", "notebook_path"), ("Grep", "path"), ("Grep", "glob"),
                              ("Glob", "path"), ("LS", "path")],
              "kiro": [("fs_read", None), ("read", None), ("fs_write", "path"), ("write", "path"),
                       ("grep", "path"), ("glob", "path")]}
SEARCHES = {"claude-code": "Grep", "kiro": "grep"}
HARMLESS_READ = {"mode": "Line", "path": "/home/dev/acme-infra/README.md"}


def file_tool_stdin(agent: str, tool: str, key: str | None, path: str, cwd: object = "/tmp") -> bytes:
    if key is None:
        mode = "Directory" if path.endswith("/*") else "Line"
        tool_input = {"operations": [HARMLESS_READ, {"mode": mode, "path": path}]}
    else:
        tool_input = {"pattern": "x", key: path} if tool in ("Grep", "grep") else {key: path}
    return json.dumps({"hook_event_name": hooks.DIALECTS[agent].event, "cwd": cwd, "tool_name": tool,
                       "tool_input": tool_input}).encode()


def asks_or_blocks_for_approval(agent: str, reply: hooks.Reply) -> bool:
    if agent == "kiro":
        return reply.exit_code == 2 and reply.stderr.startswith("blastwall: NEEDS APPROVAL")
    return reply.exit_code == 0 and json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecision"] == "ask"


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]), data=st.data(), path=credential_paths())
def test_a_file_tool_naming_a_credential_is_never_allowed(agent, data, path):
    tool, key = data.draw(st.sampled_from(FILE_TOOLS[agent]))
    reply = reply_for(agent, file_tool_stdin(agent, tool, key, path))
    assert not allowed(agent, reply), (tool, path, reply)
    assert asks_or_blocks_for_approval(agent, reply), (tool, path, reply)
    assert "credentials" in reply.stdout + reply.stderr


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]),
       home=st.sampled_from([h for h in HOMES if h.startswith(("~", "$", "/"))]),
       tail=st.sampled_from(["", "/", "/.", "/x/..", "//"]))
def test_searching_a_home_directory_is_never_allowed(agent, home, tail):
    reply = reply_for(agent, file_tool_stdin(agent, SEARCHES[agent], "path", home + tail))
    assert not allowed(agent, reply), (home + tail, reply)
    assert asks_or_blocks_for_approval(agent, reply), (home + tail, reply)


ACTING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]), text=st.text(min_size=1, max_size=40))
def test_the_reason_shown_back_cannot_act_on_a_terminal(agent, text):
    """The reason quotes the agent's command; Kiro prints it raw on stderr, Claude Code shows it."""
    stdin = json.dumps({"tool_name": SHELL_TOOL[agent],
                        "tool_input": {"command": f"kubectl delete ns payments --context prod-cn-north-1 #{text}"}})
    reply = reply_for(agent, stdin.encode())
    reason = json.loads(reply.stdout)["hookSpecificOutput"]["permissionDecisionReason"] if reply.stdout else ""
    assert not ACTING.search(reply.stderr) and not ACTING.search(reason), reply


@pytest.mark.parametrize("agent, tool", [("claude-code", "PowerShell"), ("kiro", "execute_cmd")])
@pytest.mark.parametrize("command", ["echo a\\; kubectl delete ns web --context prod-us-east-1",
                                     "Get-ChildItem", "echo $env:AWS_SECRET_ACCESS_KEY", "dir & del /s /q C:\\data"])
def test_a_shell_with_another_grammar_is_never_allowed(agent, tool, command):
    """Found by probing: PowerShell was read with bash's grammar, where \\; is an escaped argument;
    to PowerShell the backslash is literal and ; runs the delete."""
    reply = reply_for(agent, json.dumps({"tool_name": tool, "tool_input": {"command": command}}).encode())
    assert not allowed(agent, reply), reply
    assert f"<{tool}:" in (reply.stdout + reply.stderr)


@PROPERTY
@given(agent=st.sampled_from(["claude-code", "kiro"]), data=st.data())
def test_writing_what_later_commands_run_is_never_passed(agent, data):
    """Found by probing: `git status` (an allowed read) runs core.fsmonitor from .git/config."""
    tail = data.draw(st.sampled_from([".git/config", ".git/hooks/pre-commit", ".gitconfig", ".bashrc", ".zshrc",
                                      ".envrc", ".GIT/CONFIG", ".git/hooks/post-checkout",
                                      "bare/config", ".git/modules/sub/config", ".git/config.worktree"]))
    where = data.draw(st.sampled_from(["", "/root/", "/work/repo/", "sub/dir/", "../", "a/../"]))
    tool, key = {"claude-code": ("Edit", "file_path"), "kiro": ("fs_write", "path")}[agent]
    reply = reply_for(agent, json.dumps({"tool_name": tool, "cwd": "/work/repo",
                                         "tool_input": {key: where + tail, "content": "x"}}).encode())
    said = reply.stdout + reply.stderr
    assert not allowed(agent, reply) and ("writes what later commands run" in said or "writes credentials" in said)


def test_writing_ordinary_files_still_passes():
    for agent, tool, key in (("claude-code", "Write", "file_path"), ("kiro", "fs_write", "path")):
        reply = reply_for(agent, json.dumps({"tool_name": tool, "tool_input": {key: "src/app/config.py"}}).encode())
        assert reply.exit_code == 0 and allowed(agent, reply), reply
