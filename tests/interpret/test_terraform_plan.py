"""interpret_plan: real plans from tests/fixtures/terraform, validation, properties."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blastwall.core.interpret.terraform_plan import interpret_plan
from blastwall.core.model import Operation, Verb, opaque
from blastwall.errors import ProposalError
from blastwall.loaders.terraform_state import import_terraform_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios" / "shared"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def verbs_and_targets(plan: dict) -> list[tuple[Verb, str]]:
    return [(op.verb, op.target) for op in interpret_plan(plan)]


# -- the committed fixtures ------------------------------------------------------------

EXPECTED = {
    "create": [
        (Verb.CREATE, 'terraform_data.bucket["media assets"]'),
        (Verb.CREATE, "terraform_data.queue[1]"),
    ],
    "update": [(Verb.UPDATE, "terraform_data.app_config")],
    "replace": [
        (Verb.UPDATE, "terraform_data.app"),
        (Verb.REPLACE, "terraform_data.cache"),
        (Verb.REPLACE, "terraform_data.db"),
    ],
    "delete": [
        (Verb.DELETE, "terraform_data.legacy"),
        (Verb.DELETE, "terraform_data.worker[1]"),
        (Verb.DELETE, "terraform_data.worker[2]"),
    ],
    "noop": [],
    "module": [
        (Verb.UPDATE, "terraform_data.edge"),
        (Verb.UPDATE, "module.prod_us_us_east_1.terraform_data.api[0]"),
        (Verb.UPDATE, "module.prod_us_us_east_1.terraform_data.api[1]"),
        (Verb.CREATE, "module.prod_us_us_east_1.terraform_data.api[2]"),
        (Verb.REPLACE, "module.prod_us_us_east_1.terraform_data.orders_db"),
    ],
    "destroy": [
        (Verb.DELETE, 'terraform_data.dns["orders"]'),
        (Verb.DELETE, 'terraform_data.dns["payments"]'),
        (Verb.DELETE, 'module.cell["a"].terraform_data.api[0]'),
        (Verb.DELETE, 'module.cell["a"].terraform_data.orders_db'),
        (Verb.DELETE, 'module.cell["a"].terraform_data.payments_db'),
        (Verb.DELETE, 'module.cell["b"].terraform_data.api[0]'),
        (Verb.DELETE, 'module.cell["b"].terraform_data.orders_db'),
        (Verb.DELETE, 'module.cell["b"].terraform_data.payments_db'),
        (Verb.DELETE, "module.prod_eu_eu_west_1.terraform_data.api[0]"),
        (Verb.DELETE, "module.prod_eu_eu_west_1.terraform_data.api[1]"),
        (Verb.DELETE, "module.prod_eu_eu_west_1.terraform_data.orders_db"),
        (Verb.DELETE, "module.prod_eu_eu_west_1.terraform_data.payments_db"),
    ],
    "data_read": [
        (Verb.READ, None),                     # data sources touch nothing in the fleet
        (Verb.UPDATE, "terraform_data.consumer"),
        (Verb.UPDATE, "terraform_data.source"),
    ],
    "forget": [
        (Verb.DELETE, "terraform_data.destroyed"),
        (Verb.READ, "terraform_data.forgotten"),
    ],
    "moved": [(Verb.UPDATE, "terraform_data.new_name")],
    "deposed": [(Verb.DELETE, "terraform_data.server")],
    "errored": [
        (Verb.CREATE, "terraform_data.fresh"),
        (Verb.EXEC, opaque("terraform plan errored: it is incomplete, "
                           "its full effect cannot be known").target),
    ],
    "empty": [],
}


def test_every_committed_plan_has_expectations():
    committed = {p.name.removesuffix(".plan.json") for p in FIXTURES.glob("*.plan.json")}
    assert committed == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_plan_gives_exact_operations(name):
    assert verbs_and_targets(load(f"{name}.plan.json")) == EXPECTED[name]


def test_replace_notes_say_the_order_and_the_reason():
    notes = {op.target: op.note for op in interpret_plan(load("replace.plan.json"))}
    assert notes == {
        "terraform_data.app": "terraform: update terraform_data.app (in place)",
        "terraform_data.cache": "terraform: replace terraform_data.cache (create then delete) "
                                "[replace_because_cannot_update]",
        "terraform_data.db": "terraform: replace terraform_data.db (delete then create) "
                             "[replace_because_cannot_update]",
    }


def test_deposed_moved_forget_and_data_notes():
    assert interpret_plan(load("deposed.plan.json"))[0].note == \
        "terraform: delete terraform_data.server (deposed object)"
    assert interpret_plan(load("moved.plan.json"))[0].note == \
        "terraform: update terraform_data.new_name (in place; moved from terraform_data.old_name)"
    forgotten = interpret_plan(load("forget.plan.json"))[1]
    assert forgotten.note.startswith("terraform: forget terraform_data.forgotten (removed from state")
    read = interpret_plan(load("data_read.plan.json"))[0]
    assert read.note == ("terraform: read data source data.terraform_remote_state.shared "
                         "[read_because_config_unknown]")


def test_operations_are_plain_and_not_flagged():
    for op in interpret_plan(load("module.plan.json")):
        assert (op.selector, op.cost_per_month, op.destructive, op.upsert, op.fallback) == \
            (None, 0.0, False, False, None)


def test_shared_scenario_plan_replaces_the_prod_orders_database():
    scenario = SCENARIOS / "terraform-replace-prod-database"
    if not scenario.is_dir():
        pytest.skip("shared scenarios are not present")
    plan = json.loads((scenario / "plan.json").read_text())
    assert interpret_plan(plan) == [Operation(
        Verb.REPLACE, target="module.prod_us_us_east_1.terraform_data.orders_db",
        note="terraform: replace module.prod_us_us_east_1.terraform_data.orders_db "
             "(delete then create) [replace_because_cannot_update]")]
    fleet = json.loads((SCENARIOS / "acme-fleet.json").read_text())
    aliases = {a for r in fleet["resources"] for a in r.get("aliases", [])}
    assert "module.prod_us_us_east_1.terraform_data.orders_db" in aliases


# -- action sets, modes, top-level fields -------------------------------------------------

def plan_with(*entries, **top) -> dict:
    return {"format_version": "1.2", "resource_changes": list(entries), **top}


def change(address: str, *actions, **extra) -> dict:
    return {"address": address, "mode": "managed", "type": "aws_db_instance",
            "change": {"actions": list(actions)}, **extra}


@pytest.mark.parametrize("actions, verb", [
    (["read"], Verb.READ), (["create"], Verb.CREATE), (["update"], Verb.UPDATE),
    (["delete"], Verb.DELETE), (["delete", "create"], Verb.REPLACE),
    (["create", "delete"], Verb.REPLACE), (["forget"], Verb.READ),
])
def test_each_known_action_set(actions, verb):
    assert verbs_and_targets(plan_with(change("aws_db_instance.x", *actions))) == \
        [(verb, "aws_db_instance.x")]


def test_no_op_gives_nothing():
    assert interpret_plan(plan_with(change("aws_db_instance.x", "no-op"))) == []


@pytest.mark.parametrize("actions", [[], ["destroy"], ["update", "delete"], ["create", "forget"],
                                     ["delete", "delete"], ["no-op", "create"], ["open"]])
def test_unknown_action_sets_are_opaque(actions):
    [op] = interpret_plan(plan_with(change("aws_db_instance.x", *actions)))
    assert op.verb == Verb.EXEC and op.target.startswith("<opaque:")
    assert "aws_db_instance.x" in op.note


def test_data_source_reads_and_cannot_claim_anything_else():
    read = change("data.aws_ami.x", "read", mode="data")
    odd = change("data.aws_ami.y", "delete", mode="data")
    ops = interpret_plan(plan_with(read, odd))
    assert [(op.verb, op.target) for op in ops[:1]] == [(Verb.READ, None)]
    assert ops[1].verb == Verb.EXEC and "data.aws_ami.y" in ops[1].note


def test_unknown_mode_is_opaque():
    [op] = interpret_plan(plan_with(change("aws_db_instance.x", "delete", mode="ephemeral")))
    assert op.verb == Verb.EXEC


def test_missing_mode_counts_as_managed():
    entry = change("aws_db_instance.x", "delete")
    del entry["mode"]
    assert verbs_and_targets(plan_with(entry)) == [(Verb.DELETE, "aws_db_instance.x")]


def test_deposed_delete_targets_the_address():
    entry = change("aws_db_instance.x", "delete", deposed="00aa11bb")
    assert interpret_plan(plan_with(entry)) == [Operation(
        Verb.DELETE, target="aws_db_instance.x",
        note="terraform: delete aws_db_instance.x (deposed object)")]


def test_errored_plan_adds_an_opaque_operation():
    ops = interpret_plan(plan_with(change("aws_db_instance.x", "update"), errored=True))
    assert [op.verb for op in ops] == [Verb.UPDATE, Verb.EXEC]


def test_action_invocations_are_opaque():
    plan = plan_with(action_invocations=[{"address": "action.aws_lambda_invoke.purge"}])
    [op] = interpret_plan(plan)
    assert op.verb == Verb.EXEC and "action.aws_lambda_invoke.purge" in op.note


def test_plan_without_resource_changes_but_with_planned_values_is_empty():
    assert interpret_plan({"format_version": "1.2", "planned_values": {}}) == []


def test_plan_order_is_kept():
    entries = [change(f"aws_s3_bucket.b{n}", "delete") for n in (3, 1, 2)]
    assert [op.target for op in interpret_plan(plan_with(*entries))] == \
        ["aws_s3_bucket.b3", "aws_s3_bucket.b1", "aws_s3_bucket.b2"]


def test_input_is_not_modified():
    plan = load("module.plan.json")
    before = copy.deepcopy(plan)
    interpret_plan(plan)
    assert plan == before


# -- validation --------------------------------------------------------------------------

def four_good_entries() -> list[dict]:
    return [change(f"aws_s3_bucket.b{n}", "update") for n in range(4)]


def broken(index: int, key: str, value, *, inside_change: bool = False) -> dict:
    entries = four_good_entries()
    target = entries[index]["change"] if inside_change else entries[index]
    if value is DELETE_KEY:
        del target[key]
    else:
        target[key] = value
    return plan_with(*entries)


DELETE_KEY = object()


@pytest.mark.parametrize("plan, field", [
    ([], "terraform_plan"),
    ("plan", "terraform_plan"),
    ({"format_version": "1.2", "resource_changes": {}}, "terraform_plan.resource_changes"),
    ({"format_version": "1.2", "resource_changes": "all"}, "terraform_plan.resource_changes"),
    ({"format_version": "1.2"}, "terraform_plan.resource_changes"),
    ({"resource_changes": []}, "terraform_plan.format_version"),
    ({"format_version": 1.2, "resource_changes": []}, "terraform_plan.format_version"),
    ({"format_version": "2.0", "resource_changes": []}, "terraform_plan.format_version"),
    (plan_with(errored="yes"), "terraform_plan.errored"),
    (plan_with(action_invocations={}), "terraform_plan.action_invocations"),
    (plan_with(*four_good_entries()[:2], "oops"), "terraform_plan.resource_changes[2]"),
    (broken(3, "address", DELETE_KEY), "terraform_plan.resource_changes[3].address"),
    (broken(3, "address", 7), "terraform_plan.resource_changes[3].address"),
    (broken(2, "address", ""), "terraform_plan.resource_changes[2].address"),
    (broken(1, "change", DELETE_KEY), "terraform_plan.resource_changes[1].change"),
    (broken(1, "change", ["update"]), "terraform_plan.resource_changes[1].change"),
    (broken(3, "actions", DELETE_KEY, inside_change=True),
     "terraform_plan.resource_changes[3].change.actions"),
    (broken(3, "actions", "delete", inside_change=True),
     "terraform_plan.resource_changes[3].change.actions"),
    (broken(0, "actions", ["delete", None], inside_change=True),
     "terraform_plan.resource_changes[0].change.actions[1]"),
    (broken(2, "mode", 1), "terraform_plan.resource_changes[2].mode"),
])
def test_malformed_plans_name_the_field(plan, field):
    with pytest.raises(ProposalError) as raised:
        interpret_plan(plan)
    assert raised.value.field == field
    assert field in str(raised.value)


def test_state_json_is_refused_as_a_plan():
    with pytest.raises(ProposalError, match="not a plan") as raised:
        interpret_plan(load("module.state.json"))
    assert raised.value.field == "terraform_plan.resource_changes"


# -- properties ----------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)

ACTION_WORDS = ["no-op", "create", "read", "update", "delete", "forget", "open", 7, None]
entries = st.fixed_dictionaries(
    {"address": st.one_of(st.text(max_size=12), st.sampled_from(["aws_x.a", "module.m.aws_x.b[0]"]), json_scalars),
     "change": st.one_of(json_values, st.fixed_dictionaries(
         {"actions": st.one_of(st.lists(st.sampled_from(ACTION_WORDS), max_size=3), json_values)}))},
    optional={"mode": st.sampled_from(["managed", "data", "weird", 3]), "deposed": json_scalars,
              "action_reason": json_values, "previous_address": json_values})
plans = st.fixed_dictionaries(
    {"format_version": st.sampled_from(["1.0", "1.2", "0.1", "x", 1])},
    optional={"resource_changes": st.one_of(st.lists(entries, max_size=5), json_values),
              "errored": json_scalars, "planned_values": json_values,
              "action_invocations": st.one_of(st.lists(json_values, max_size=2), json_values)})


def interpret_or_proposal_error(plan) -> list[Operation] | None:
    try:
        return interpret_plan(plan)
    except ProposalError:
        return None


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_only_ever_raises_proposal_error(value):
    interpret_or_proposal_error(value)


@settings(max_examples=500, deadline=None)
@given(plans)
def test_plan_shaped_json_only_ever_raises_proposal_error(plan):
    ops = interpret_or_proposal_error(plan)
    assert ops is None or all(isinstance(op, Operation) for op in ops)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["aws_x.a", "aws_x.b", "module.m.aws_x.c[0]"]),
                          st.lists(st.sampled_from(ACTION_WORDS[:6]), max_size=3),
                          st.sampled_from(["managed", "data", "other"])), max_size=6))
def test_a_delete_is_never_dropped_or_softened(rows):
    plan = plan_with(*[change(address, *actions, mode=mode) for address, actions, mode in rows])
    ops = interpret_plan(plan)
    for address, actions, _ in rows:
        if "delete" in actions:
            assert any((op.target == address and op.verb in (Verb.DELETE, Verb.REPLACE))
                       or (op.verb == Verb.EXEC and address in op.note) for op in ops)


# -- regeneration with the real terraform ------------------------------------------------

@pytest.mark.terraform
@pytest.mark.skipif(shutil.which("terraform") is None,
                    reason="terraform is not on PATH: cannot regenerate the plan fixtures")
def test_regenerated_fixtures_give_the_same_operations(tmp_path):
    subprocess.run([sys.executable, str(FIXTURES / "regenerate.py"), "--out", str(tmp_path)],
                   check=True, timeout=300, capture_output=True, text=True)
    regenerated = sorted(p.name for p in tmp_path.glob("*.json"))
    assert regenerated == sorted(p.name for p in FIXTURES.glob("*.json"))
    for name in EXPECTED:
        fresh_plan = json.loads((tmp_path / f"{name}.plan.json").read_text())
        assert interpret_plan(fresh_plan) == interpret_plan(load(f"{name}.plan.json")), name
        fresh_state = json.loads((tmp_path / f"{name}.state.json").read_text())
        assert import_terraform_state(fresh_state) == \
            import_terraform_state(load(f"{name}.state.json")), name


def test_provisioners_and_external_programs_are_opaque_and_destructive(sample_fleet):
    """A plan that only creates a null_resource can still run any command (local-exec)."""
    from blastwall.core.decide import Context, decide
    from blastwall.core.model import Proposal
    from blastwall.loaders.policy import load_policy
    from tests.conftest import T0
    plan = plan_with(change("null_resource.cleanup", "create", type="null_resource"), configuration={"root_module": {
        "resources": [{"address": "null_resource.cleanup", "mode": "managed", "type": "null_resource",
                       "provisioners": [{"type": "local-exec", "expressions": {"command": {
                           "constant_value": "kubectl delete ns payments --context prod-cn-north-1"}}}]}],
        "module_calls": {"ops": {"module": {"resources": [
            {"address": "data.external.token", "mode": "data", "type": "external"}]}}}}})
    ops = interpret_plan(plan)
    risky = [op for op in ops if op.verb is Verb.EXEC]
    assert len(risky) == 2 and all(op.destructive for op in risky)
    assert "local-exec" in risky[0].note and "module.ops.data.external.token" in risky[1].note
    decision = decide(sample_fleet, load_policy(None), Proposal("bot", "alice", "", tuple(ops)), Context(T0))
    assert decision.effect.value != "allow"
