"""docs/agents.md: its settings snippets parse, name the real command, and work as written."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integrations.hook_helpers import FLEET, ROOT, payload
from tests.service.procs import free_port

DOC = (ROOT / "docs" / "agents.md").read_text()
BIN = Path(sys.executable).parent
JSON_BLOCKS = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.S)]
YAML_BLOCKS = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S)]
INLINE_COMMANDS = [json.loads("{" + m + "}")["command"]
                   for m in re.findall(r'`("command": "blastwall hook [^`]*")`', DOC)]


def claude_commands() -> list[str]:
    return [hook["command"] for block in JSON_BLOCKS for group in block.get("hooks", {}).get("PreToolUse", [])
            for hook in group["hooks"]]


def kiro_commands() -> list[str]:
    return [hook["command"] for block in JSON_BLOCKS for hook in block.get("hooks", {}).get("preToolUse", [])]


def test_the_snippets_parse_and_name_the_real_commands():
    assert len(JSON_BLOCKS) == 3
    assert len(claude_commands()) == 2 and len(kiro_commands()) == 1 and len(INLINE_COMMANDS) == 1
    for command in claude_commands():
        assert shlex.split(command)[:3] == ["blastwall", "hook", "claude-code"]
    for command in kiro_commands() + INLINE_COMMANDS:
        assert shlex.split(command)[:3] == ["blastwall", "hook", "kiro"]
    for command in claude_commands() + kiro_commands() + INLINE_COMMANDS:
        assert command.endswith(" || exit 2"), command


def test_the_claude_code_snippets_use_the_documented_settings_shape():
    for block in JSON_BLOCKS[:2]:
        (group,) = block["hooks"]["PreToolUse"]
        assert re.search(group["matcher"], "Bash") and re.search(group["matcher"], "mcp__kubernetes__get_pods")
        assert all(re.search(group["matcher"], tool) for tool in ("Read", "Grep", "Write", "Edit"))
        (hook,) = group["hooks"]
        assert hook["type"] == "command" and hook["timeout"] > _hook_timeout(hook["command"])


def test_the_kiro_snippet_uses_the_documented_agent_shape():
    (hook,) = JSON_BLOCKS[2]["hooks"]["preToolUse"]
    assert hook["matcher"] == "*"
    assert hook["timeout_ms"] / 1000 > _hook_timeout(hook["command"])


def _hook_timeout(command: str) -> float:
    words = shlex.split(command)
    return float(words[words.index("--timeout") + 1])


@pytest.fixture
def project(tmp_path) -> Path:
    """A project laid out as the snippets expect: .blastwall/{inventory,policy,mcp-mapping}.yaml."""
    config = tmp_path / ".blastwall"
    config.mkdir()
    (config / "inventory.yaml").write_text(yaml.safe_dump(json.loads(FLEET.read_text())))
    (config / "policy.yaml").write_text("version: 1\nextends: recommended\n")
    (config / "mcp-mapping.yaml").write_text(yaml.safe_dump(YAML_BLOCKS[0]))
    return tmp_path


def run_snippet(command: str, project: Path, stdin: bytes, path: str = str(BIN)) -> subprocess.CompletedProcess:
    """As the agents run a hook: `sh -c COMMAND` in the project, payload on stdin."""
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(project), "PATH": f"{path}:/usr/bin:/bin",
           "BLASTWALL_TOKEN": "tok-coder-1-secret"}
    return subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, cwd=project, env=env, timeout=60)


def test_the_local_claude_code_snippet_works_as_written(project):
    command = claude_commands()[0]
    asked = run_snippet(command, project, payload("claude-bash-kubectl-delete-prod.json"))
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["hookSpecificOutput"]["permissionDecision"] == "ask"
    read = run_snippet(command, project, payload("claude-mcp-mapped-read.json"))
    assert json.loads(read.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
    hidden = run_snippet(command, project, payload("claude-mcp-hidden.json"))
    assert hidden.returncode == 2
    secret = run_snippet(command, project, payload("claude-read-aws-credentials.json"))
    assert json.loads(secret.stdout)["hookSpecificOutput"]["permissionDecision"] == "ask"


def test_the_local_kiro_snippet_works_as_written(project):
    command = kiro_commands()[0]
    assert run_snippet(command, project, payload("kiro-execute-bash-read.json")).returncode == 0
    blocked = run_snippet(command, project, payload("kiro-execute-bash-delete-prod.json"))
    assert blocked.returncode == 2 and b"deletes 2 resource(s), degrades 4 more" in blocked.stderr


@pytest.mark.parametrize("which", [0, 1])
def test_the_service_snippets_accept_their_options(project, which):
    command = [claude_commands()[1], INLINE_COMMANDS[0]][which]
    unreachable = command.replace("http://127.0.0.1:8470", f"http://127.0.0.1:{free_port()}")
    stdin = payload(["claude-bash-read.json", "kiro-execute-bash-read.json"][which])
    run = run_snippet(unreachable, project, stdin)
    assert run.returncode == 2
    assert b"cannot reach blastwall" in run.stderr, run.stderr


def test_a_hook_that_cannot_start_still_blocks(project):
    """The `|| exit 2` tail: blastwall missing from PATH must block, not skip the hook."""
    run = run_snippet(claude_commands()[0], project, payload("claude-bash-read.json"), path="/nonexistent")
    assert run.returncode == 2
