"""`blastwall hook claude-code` / `kiro` as a subprocess, fed recorded PreToolUse payloads."""
from __future__ import annotations

import json
import re

import pytest

from tests.integrations.hook_helpers import FLEET, MAPPING, payload, run_hook

IMPACT_OF_PAYMENTS_DELETE = ("deletes 2 resource(s), degrades 4 more in prod across cn-north-1",
                             "serving 21,000 customers")


def assert_impact(reason: str, parts=IMPACT_OF_PAYMENTS_DELETE) -> None:
    for part in parts:
        assert part in reason, (part, reason)
    assert re.search(r"decision: dec_\w+", reason), reason


def assert_blocked_with_error(run) -> None:
    assert run.exit_code == 2
    assert run.stdout == ""
    assert "blocked (fail closed)" in run.stderr


# ---------------------------------------------------------------- Claude Code

@pytest.mark.parametrize("name, decision", [
    ("claude-bash-kubectl-delete-prod.json", "ask"),
    ("claude-bash-c-bypass.json", "ask"),
    ("claude-mcp-mapped-delete.json", "ask"),
    ("claude-bash-read.json", "allow"),
    ("claude-mcp-mapped-read.json", "allow"),
])
def test_claude_code_decisions_exit_0_with_json(name, decision):
    run = run_hook("claude-code", payload(name))
    assert run.exit_code == 0, run.stderr
    assert run.output["hookEventName"] == "PreToolUse"
    assert run.permission == decision
    assert run.output["permissionDecisionReason"].startswith("blastwall: ")


def test_claude_code_prod_delete_asks_with_the_impact_and_explanation():
    run = run_hook("claude-code", payload("claude-bash-kubectl-delete-prod.json"))
    reason = run.output["permissionDecisionReason"]
    assert_impact(reason)
    assert "kubectl delete namespace payments --context prod-cn-north-1" in reason
    assert "approval: needs 1 approver(s) whose authority covers prod / cn-north-1" in reason
    assert "why: Needs approval" in reason


def test_claude_code_bash_c_wrapper_is_seen_through():
    run = run_hook("claude-code", payload("claude-bash-c-bypass.json"))
    assert_impact(run.output["permissionDecisionReason"])


def test_claude_code_deny_prints_json_and_exits_2_with_the_reason_on_stderr():
    run = run_hook("claude-code", payload("claude-bash-terraform-destroy.json"))
    assert run.exit_code == 2
    assert run.permission == "deny"
    reason = run.output["permissionDecisionReason"]
    assert reason.startswith("blastwall: DENY cd infra/prod && terraform destroy -auto-approve")
    assert "unknown to the inventory: <opaque: terraform destroy" in reason
    assert run.stderr.strip() == reason


@pytest.mark.parametrize("name, words", [
    ("claude-mcp-unmapped.json", "mcp__github__create_pull_request: it is not mapped to operations"),
    ("claude-mcp-hidden.json", "mcp__kubernetes__exec_in_pod: the mapping hides this tool"),
])
def test_claude_code_unmapped_or_hidden_mcp_tools_are_denied(name, words):
    run = run_hook("claude-code", payload(name))
    assert run.exit_code == 2
    assert run.permission == "deny"
    assert words in run.output["permissionDecisionReason"]


def test_claude_code_mcp_tools_are_denied_without_any_mapping():
    run = run_hook("claude-code", payload("claude-mcp-mapped-read.json"), "--inventory", str(FLEET))
    assert (run.exit_code, run.permission) == (2, "deny")


@pytest.mark.parametrize("name", ["claude-read.json", "claude-write.json"])
def test_claude_code_local_tools_get_no_decision(name):
    run = run_hook("claude-code", payload(name))
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")


# ---- built-in file tools that name a credential -------------------------------------------------

@pytest.mark.parametrize("name, words", [
    ("claude-read-aws-credentials.json", "Read /root/.aws/credentials (reads credentials)"),
    ("claude-grep-home.json", "Grep ~ (searches a tree that holds credentials)"),
    ("claude-write-kubeconfig.json", "Write /root/.kube/config (writes credentials)"),
])
def test_claude_code_file_tools_naming_credentials_need_approval(name, words):
    """An opaque operation to blastwall: the user is asked, with what the call would touch."""
    run = run_hook("claude-code", payload(name))
    assert (run.exit_code, run.permission) == (0, "ask"), run.stderr
    reason = run.output["permissionDecisionReason"]
    assert reason.startswith(f"blastwall: NEEDS APPROVAL {words}")
    assert "unknown to the inventory: <credentials:" in reason and re.search(r"decision: dec_\w+", reason)


def test_claude_code_file_writes_deny_still_denies_a_credential_write():
    run = run_hook("claude-code", payload("claude-write-kubeconfig.json"), "--inventory", str(FLEET),
                   "--file-writes", "deny")
    assert (run.exit_code, run.permission) == (2, "deny")


@pytest.mark.parametrize("tool, tool_input", [
    ("Read", {"file_path": "/home/dev/acme-infra/.aws-notes.md"}),
    ("Grep", {"pattern": "TODO", "path": "/home/dev/acme-infra/src"}),
    ("Grep", {"pattern": "TODO"}), ("Glob", {"pattern": "**/*.py", "path": "~"}),
    ("WebFetch", {"url": "https://example.com/.env", "prompt": "summarise"}),
    ("Read", {"file_path": "/root/.ssh/id_rsa.pub"}),
])
def test_claude_code_file_tools_away_from_credentials_get_no_decision(tool, tool_input):
    doc = json.loads(payload("claude-read.json"))
    doc.update(tool_name=tool, tool_input=tool_input)
    run = run_hook("claude-code", json.dumps(doc).encode())
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")


@pytest.mark.parametrize("setting, decision, code", [("ask", "ask", 0), ("deny", "deny", 2)])
def test_claude_code_file_writes_can_be_gated(setting, decision, code):
    run = run_hook("claude-code", payload("claude-write.json"), "--inventory", str(FLEET), "--file-writes", setting)
    assert (run.exit_code, run.permission) == (code, decision)
    assert "notes.md" in run.output["permissionDecisionReason"]


def test_claude_code_defer_allow_prints_no_decision():
    run = run_hook("claude-code", payload("claude-bash-read.json"), "--inventory", str(FLEET), "--defer-allow")
    assert (run.exit_code, run.stdout) == (0, "")
    denied = run_hook("claude-code", payload("claude-bash-terraform-destroy.json"), "--inventory", str(FLEET),
                      "--defer-allow")
    assert (denied.exit_code, denied.permission) == (2, "deny")


def test_claude_code_unknown_tool_asks_a_human():
    doc = json.loads(payload("claude-read.json"))
    doc.update(tool_name="Computer", tool_input={"action": "click"})
    run = run_hook("claude-code", json.dumps(doc).encode())
    assert (run.exit_code, run.permission) == (0, "ask")


@pytest.mark.parametrize("name, message", [
    ("malformed.json", "hook input is not JSON"),
    ("empty.json", "empty hook input"),
])
def test_claude_code_bad_stdin_blocks(name, message):
    run = run_hook("claude-code", payload(name))
    assert_blocked_with_error(run)
    assert message in run.stderr


@pytest.mark.parametrize("doc, message", [
    ([1, 2], "must be a JSON object"),
    ({"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}, "PreToolUse only"),
    ({"hook_event_name": "PreToolUse", "tool_input": {"command": "ls"}}, "no tool_name"),
    ({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {}}, "tool_input.command"),
    ({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "ls"}, "tool_input must be"),
])
def test_claude_code_malformed_payloads_block(doc, message):
    run = run_hook("claude-code", json.dumps(doc).encode())
    assert_blocked_with_error(run)
    assert message in run.stderr


def test_invalid_utf8_blocks():
    assert_blocked_with_error(run_hook("claude-code", b'{"tool_name": "Bash\xff"}'))


@pytest.mark.parametrize("args, message", [
    (("--timeout", "10"), "exactly one of --inventory"),
    (("--inventory", str(FLEET), "--service", "http://127.0.0.1:9"), "exactly one of --inventory"),
    (("--inventory", "/nonexistent/fleet.yaml"), "blocked"),
    (("--inventory", str(FLEET), "--approvals", "service"), "--approvals service needs --service"),
    (("--inventory", str(FLEET), "--mapping", "/nonexistent/mapping.yaml"), "blocked"),
    (("--inventory", str(FLEET), "--timeout", "0"), "Invalid value for '--timeout'"),
    (("--inventory", str(FLEET), "--no-such-option"), "No such option"),
])
def test_bad_configuration_blocks(args, message):
    run = run_hook("claude-code", payload("claude-bash-read.json"), *args)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert message in run.stderr


def test_a_broken_inventory_blocks(tmp_path):
    broken = tmp_path / "fleet.yaml"
    broken.write_text("version: 1\nresources: [\n")
    run = run_hook("claude-code", payload("claude-bash-read.json"), "--inventory", str(broken))
    assert_blocked_with_error(run)
    assert "fleet.yaml" in run.stderr


# ---------------------------------------------------------------- Kiro

@pytest.mark.parametrize("name", ["kiro-execute-bash-read.json", "kiro-mcp-mapped-read.json", "kiro-fs-read.json"])
def test_kiro_allows_with_exit_0_and_nothing_printed(name):
    run = run_hook("kiro", payload(name))
    assert (run.exit_code, run.stdout, run.stderr) == (0, "", "")


@pytest.mark.parametrize("name, words", [
    ("kiro-fs-read-credentials.json", "blastwall: NEEDS APPROVAL fs_read ~/.aws/credentials (reads credentials)"),
    ("kiro-grep-home.json", "blastwall: NEEDS APPROVAL grep ~ (searches a tree that holds credentials)"),
])
def test_kiro_file_tools_naming_credentials_are_blocked(name, words):
    run = run_hook("kiro", payload(name))
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith(words) and "a Kiro hook cannot ask a human" in run.stderr


def test_kiro_approve_blocks_with_the_impact_and_what_to_do():
    run = run_hook("kiro", payload("kiro-execute-bash-delete-prod.json"))
    assert (run.exit_code, run.stdout) == (2, "")
    assert run.stderr.startswith("blastwall: NEEDS APPROVAL kubectl delete namespace payments")
    assert_impact(run.stderr)
    assert "a Kiro hook cannot ask a human" in run.stderr


@pytest.mark.parametrize("name, words", [
    ("kiro-execute-bash-c-bypass.json", "deletes 2 resource(s), degrades 4 more"),
    ("kiro-use-aws-terminate.json", "blastwall: DENY aws ec2 terminate-instances --region us-east-1"),
    ("kiro-mcp-unmapped.json", "@github/create_pull_request: it is not mapped to operations"),
])
def test_kiro_blocks_with_exit_2_and_stderr_for_the_model(name, words):
    run = run_hook("kiro", payload(name))
    assert (run.exit_code, run.stdout) == (2, "")
    assert words in run.stderr


@pytest.mark.parametrize("name", ["malformed.json", "empty.json", "claude-bash-read.json"])
def test_kiro_bad_stdin_blocks(name):
    assert_blocked_with_error(run_hook("kiro", payload(name)))


def test_kiro_reads_the_mapping_by_qualified_name(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text('version: 1\ntools:\n  "@kubernetes/get_pods": {verb: read, target: '
                       '"k8s:{context}:namespace:{namespace}"}\n')
    run = run_hook("kiro", payload("kiro-mcp-mapped-read.json"), "--inventory", str(FLEET), "--mapping", str(mapping))
    assert run.exit_code == 0, run.stderr


def test_a_server_bound_mapping_does_not_cover_other_servers():
    bound = ["--inventory", str(FLEET), "--mapping", f"other={MAPPING}"]
    assert run_hook("kiro", payload("kiro-mcp-mapped-read.json"), *bound).exit_code == 2
    own = ["--inventory", str(FLEET), "--mapping", f"kubernetes={MAPPING}"]
    assert run_hook("kiro", payload("kiro-mcp-mapped-read.json"), *own).exit_code == 0


@pytest.mark.parametrize("tool_input", [
    {"service_name": "ec2 terminate-instances --instance-ids i-1 #", "operation_name": "describe-instances"},
    {"service_name": "ec2", "operation_name": "--debug"},
    {"service_name": "ec2", "operation_name": "describe-instances", "region": "us-east-1 --no-verify-ssl"},
    {"service_name": "ec2", "operation_name": "describe-instances", "parameters": {"a b": "x"}},
    {"service_name": "ec2", "operation_name": "describe-instances", "parameters": ["not", "an", "object"]},
])
def test_use_aws_names_cannot_smuggle_words_into_the_judged_argv(tool_input):
    doc = {"hook_event_name": "preToolUse", "cwd": "/tmp", "tool_name": "use_aws", "tool_input": tool_input}
    run = run_hook("kiro", json.dumps(doc).encode())
    assert run.exit_code == 2 and run.stdout == ""


# ---- MCP arguments: every one is judged or declared ------------------------------------------------

def with_input(name: str, **extra) -> bytes:
    doc = json.loads(payload(name))
    doc["tool_input"].update(extra)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("agent, name", [("claude-code", "claude-mcp-mapped-read.json"),
                                         ("kiro", "kiro-mcp-mapped-read.json")])
@pytest.mark.parametrize("extra", [{"all_namespaces": True}, {"label_selector": "app=*"}])
def test_an_mcp_argument_the_mapping_does_not_declare_is_denied(agent, name, extra):
    """get_pods on its own is allowed (above); an extra argument would reach the tool unjudged."""
    run = run_hook(agent, with_input(name, **extra))
    (key,) = extra
    assert run.exit_code == 2
    assert f"argument '{key}' of tool 'get_pods' is not judged" in run.stderr
    if agent == "claude-code":
        assert run.permission == "deny"


def test_an_mcp_kubectl_tool_is_judged_with_its_program(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("version: 1\ntools:\n  kubectl: {artifact: argv, from: args, program: kubectl}\n")
    doc = {"hook_event_name": "PreToolUse", "tool_name": "mcp__kubernetes__kubectl",
           "tool_input": {"args": ["delete", "namespace", "payments", "--context", "prod-cn-north-1"]}}
    run = run_hook("claude-code", json.dumps(doc).encode(), "--inventory", str(FLEET), "--mapping", str(mapping))
    assert (run.exit_code, run.permission) == (0, "ask")
    assert_impact(run.output["permissionDecisionReason"])
