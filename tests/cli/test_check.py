"""`blastwall check` exactly as contract section 5 says."""
import json
import subprocess
import sys

import pytest

from tests.conftest import SAMPLE_FLEET

SCRIPT = "from blastwall.cli.main import main; main()"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def check(*args):
    return run("check", "--inventory", str(SAMPLE_FLEET), *args)


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(p)


def test_allow_is_exit_0_with_one_json_object(tmp_path):
    prop = write(tmp_path, "p.json", {"agent": "a", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]})
    res = check("--proposal", prop, "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["effect"] == "allow" and doc["approval"] is None
    assert set(doc) >= {"decision_id", "effect", "reasons", "impact", "approval", "explanation"}
    assert doc["impact"]["degraded"] == 2 and doc["impact"]["environments"] == ["dev"]


def test_approve_is_exit_10_and_names_the_scope(tmp_path):
    prop = write(tmp_path, "p.json", {"agent": "a", "operations": [{"verb": "delete", "target": "db/orders-prod-us-east-1"}]})
    res = check("--proposal", prop, "--json")
    assert res.returncode == 10
    doc = json.loads(res.stdout)
    assert doc["approval"]["approvers"] == 2
    assert doc["approval"]["environments"] == ["prod"] and doc["approval"]["regions"] == ["us-east-1"]


def test_deny_is_exit_20_with_an_alternative(tmp_path):
    prop = write(tmp_path, "p.json", {"agent": "kiro", "operations": [{"verb": "delete", "target": "env/prod-cn"},
                                                                        {"verb": "create", "target": "env/prod-cn"}]})
    res = check("--proposal", prop, "--json")
    assert res.returncode == 20
    doc = json.loads(res.stdout)
    assert doc["reasons"][0]["rule"] == "prod-multi-region-delete"
    assert "Split the change per region" in doc["explanation"]


def test_argv_takes_every_argument_after_it_options_included():
    res = check("--json", "--argv", "kubectl", "get", "pods", "-n", "web", "--context", "prod-us-east-1", "--json")
    assert res.returncode in (0, 10), res.stderr
    assert json.loads(res.stdout)["effect"] in ("allow", "approve")


def test_at_fixes_now_for_freezes(tmp_path):
    pol = write(tmp_path, "pol.yaml", "version: 1\nextends: recommended\nfreezes:\n  - name: f\n"
                "    start: '2025-07-10T00:00:00Z'\n    end: '2025-07-25T00:00:00Z'\n    scope: {env: dev}\n")
    prop = write(tmp_path, "p.json", {"agent": "a", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]})
    inside = check("--policy", pol, "--proposal", prop, "--at", "2025-07-18T09:30:00Z", "--json")
    outside = check("--policy", pol, "--proposal", prop, "--at", "2025-08-18T09:30:00Z", "--json")
    assert (inside.returncode, outside.returncode) == (20, 0)
    assert json.loads(inside.stdout)["reasons"][0]["rule"] == "freeze"


def test_terraform_plan_input(tmp_path):
    plan = {"format_version": "1.2", "resource_changes": [
        {"address": "module.prod_us_us_east_1.terraform_data.orders_db", "mode": "managed", "type": "terraform_data",
         "name": "orders_db", "change": {"actions": ["delete", "create"]}}]}
    res = check("--terraform-plan", write(tmp_path, "plan.json", plan), "--json")
    assert res.returncode in (10, 20)
    assert json.loads(res.stdout)["impact"]["stateful_deleted"] == 1


def test_same_inputs_give_byte_identical_output(tmp_path):
    prop = write(tmp_path, "p.json", {"agent": "a", "operations": [{"verb": "delete", "target": "env/prod-cn"}]})
    a = check("--proposal", prop, "--at", "2026-01-01T00:00:00Z", "--json")
    b = check("--proposal", prop, "--at", "2026-01-01T00:00:00Z", "--json")
    assert a.stdout == b.stdout and a.stdout.count("\n") == 1


def test_human_output_shows_effect_and_numbers(tmp_path):
    prop = write(tmp_path, "p.json", {"agent": "a", "operations": [{"verb": "delete", "target": "env/prod-cn"}]})
    res = check("--proposal", prop)
    assert res.returncode == 20
    assert "DENY" in res.stdout and "59" in res.stdout and "cn-northwest-1" in res.stdout


@pytest.mark.parametrize("args, words", [
    ((), "exactly one of"),
    (("--command", "ls", "--argv", "ls"), "got --argv, --command"),
    (("--argv",), "needs the agent's command"),
    (("--command", "ls", "--at", "yesterday"), "--at"),
])
def test_bad_usage_is_exit_2(args, words):
    res = check(*args)
    assert res.returncode == 2
    assert words in res.stderr
    assert res.stdout == ""


@pytest.mark.parametrize("doc, words", [
    ('{"agent": "a", "operations": [{"verb": "nuke", "target": "x"}]}', "operations[0].verb"),
    ('{"agent": "a", "operations": [{"verb": "delete"}]}', "operations[0]"),
    ('{"agent": "a", "operations": [{"verb": "delete", "target": "a", "selector": {"env": "x"}}]}', "exactly one"),
    ('{"agent": "a", "operations": [{"verb": "delete", "selector": {}}]}', "operations[0].selector"),
    ('{"agent": "a", "operations": [{"verb": "delete", "selector": {"colour": "red"}}]}', "selector.colour"),
    ('{"agent": "a", "operations": []}', "needs 'operations'"),
    ('{"operations": [{"verb": "read", "target": "x"}]}', "'agent'"),
    ('{"agent": "a", "argv": "kubectl delete"}', "'argv'"),
    ('{"agent": "a", "argv": ["ls"], "command": "ls"}', "at most one artifact"),
    ('{"agent": "a", "surprise": 1}', "surprise"),
    ('{"agent": "a",\n "operations": [\n}', ":3"),
    ('[1, 2]', "JSON object"),
])
def test_bad_proposals_are_exit_2_naming_the_field(tmp_path, doc, words):
    res = check("--proposal", write(tmp_path, "p.json", doc), "--json")
    assert res.returncode == 2, res.stdout
    assert words in res.stderr
    assert res.stdout == ""


def test_bad_inventory_is_exit_2_naming_file_and_line(tmp_path):
    inv = write(tmp_path, "inv.yaml", "version: 1\nresources:\n  - id: a\n    kind: x\n    parent: ghost\n")
    res = run("check", "--inventory", inv, "--command", "ls", "--json")
    assert res.returncode == 2
    assert f"{inv}:3" in res.stderr and "ghost" in res.stderr


def test_bad_policy_is_exit_2_naming_the_field(tmp_path):
    pol = write(tmp_path, "pol.yaml", "version: 1\nrules:\n  - {name: x, effect: deny, when: 'impact.nope', message: m}\n")
    res = check("--policy", pol, "--command", "ls", "--json")
    assert res.returncode == 2
    assert "rules[0].when" in res.stderr and "pol.yaml" in res.stderr


def test_unknown_target_is_never_allowed(tmp_path):
    prop = write(tmp_path, "p.json", {"agent": "a", "operations": [{"verb": "restart", "target": "dеploy/dev-us-east-1/web"}]})
    res = check("--proposal", prop, "--json")           # Cyrillic 'е': a look-alike id
    assert res.returncode == 10
    assert json.loads(res.stdout)["impact"]["unknown_targets"] == ["dеploy/dev-us-east-1/web"]


def test_impact_command_prints_a_tree_and_json():
    res = run("impact", "--inventory", str(SAMPLE_FLEET), "--target", "env/prod-cn")
    assert res.returncode == 0, res.stderr
    assert "cn-northwest-1" in res.stdout and "deleted (" in res.stdout
    js = run("impact", "--inventory", str(SAMPLE_FLEET), "--target", "env/prod-cn", "--json")
    assert json.loads(js.stdout)["deleted"] == 59


def test_demo_replays_the_incidents():
    res = run("demo", "--scenarios")
    assert "kiro-delete-recreate-environment" in res.stdout
    assert "0 unexpected" in res.stdout, res.stdout[-2000:]
    assert res.returncode == 0
