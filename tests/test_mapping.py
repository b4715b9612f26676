import pytest
from hypothesis import given, strategies as st

from blastwall.core.proposal import parse_proposal
from blastwall.errors import InputError, ProposalError
from blastwall.integrations.mapping import Unmapped, parse_mapping

MAPPING = parse_mapping({"version": 1, "tools": {
    "k8s_delete": {"verb": "delete", "target": "k8s:{context}:{kind}:{namespace}/{name}"},
    "k8s_delete_by_label": {"verb": "delete", "selector": {"alias_prefix": "k8s:{context}:pod:{namespace}/",
                                                         "tags": {"{label}": "{value}"}}},
    "shell": {"artifact": "command", "from": "cmd"},
    "exec_in_pod": {"verb": "exec", "target": "k8s:{context}:pod:{namespace}/{name}"},
}, "hidden": ["exec_in_pod"]})


def test_templates_fill_from_arguments():
    doc = MAPPING.proposal("k8s_delete", {"context": "prod", "kind": "deployment", "namespace": "web", "name": "api"}, "why")
    assert doc == {"intent": "why", "operations": [{"verb": "delete", "target": "k8s:prod:deployment:web/api"}]}
    sel = MAPPING.proposal("k8s_delete_by_label", {"context": "c", "namespace": "n", "label": "app", "value": "x"})
    assert sel["operations"][0]["selector"] == {"alias_prefix": "k8s:c:pod:n/", "tags": {"app": "x"}}
    assert MAPPING.proposal("shell", {"cmd": "ls"}) == {"intent": "", "command": "ls"}


def test_unmapped_and_hidden_tools_are_refused():
    for tool in ("nope", "exec_in_pod"):
        with pytest.raises(Unmapped):
            MAPPING.proposal(tool, {})
    assert not MAPPING.visible("exec_in_pod") and MAPPING.visible("shell")


@pytest.mark.parametrize("args", [{}, {"context": "prod", "kind": "deployment", "namespace": "web"},
                                  {"context": "prod", "kind": "deployment", "namespace": "web", "name": 3},
                                  {"context": "prod", "kind": "deployment", "namespace": "web", "name": "a b"},
                                  {"context": "prod}", "kind": "d", "namespace": "w", "name": "x"}])
def test_bad_arguments_refuse_the_call(args):
    with pytest.raises(ProposalError):
        MAPPING.proposal("k8s_delete", args)


@pytest.mark.parametrize("doc, field", [
    ({"version": 2}, "version"),
    ({"version": 1, "tools": {"t": {"verb": "nuke", "target": "x"}}}, "tools.t.verb"),
    ({"version": 1, "tools": {"t": {"verb": "delete"}}}, "tools.t"),
    ({"version": 1, "tools": {"t": {"artifact": "python", "from": "x"}}}, "tools.t"),
])
def test_bad_mappings_name_the_field(doc, field):
    with pytest.raises(InputError) as err:
        parse_mapping(doc)
    assert err.value.field == field


@given(st.dictionaries(st.sampled_from(["context", "kind", "namespace", "name"]), st.text(max_size=8)))
def test_any_filled_target_is_either_refused_or_a_valid_proposal(args):
    try:
        doc = MAPPING.proposal("k8s_delete", args)
    except ProposalError:
        return
    parse_proposal({"agent": "a", **doc})


# ---- every argument must be declared: judged by the template, or listed as unjudged ----------------

DECLARED = parse_mapping({"version": 1, "tools": {
    "k8s_delete": {"verb": "delete", "target": "k8s:{context}:{kind}:{namespace}/{name}",
                   "unjudged": ["timeout_seconds", "opts.dry_run"]},
    "k8s_delete_meta": {"verb": "delete", "target": "k8s:{context}:namespace:{meta.name}"},
    "shell": {"artifact": "command", "from": "cmd"},
    "kubectl": {"artifact": "argv", "from": "args", "program": "kubectl"},
}})
DELETE = {"context": "prod", "kind": "deployment", "namespace": "web", "name": "api"}
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)


def refused_argument(tool: str, args: dict) -> str:
    with pytest.raises(ProposalError) as err:
        DECLARED.proposal(tool, args)
    return err.value.field


@pytest.mark.parametrize("extra", [{"all_namespaces": True}, {"selector": "app=*"}, {"force": True},
                                   {"grace_period": 0}, {"opts": {"dry_run": False, "cascade": "foreground"}}])
def test_an_undeclared_argument_refuses_the_call_and_is_named(extra):
    name = next(iter(extra)) if "opts" not in extra else "opts.cascade"
    assert refused_argument("k8s_delete", {**DELETE, **extra}) == f"arguments.{name}"


def test_unjudged_arguments_are_allowed_and_do_not_change_the_proposal():
    judged = DECLARED.proposal("k8s_delete", DELETE)
    assert DECLARED.proposal("k8s_delete", {**DELETE, "timeout_seconds": 30, "opts": {"dry_run": True}}) == judged


def test_a_nested_reference_declares_only_that_key():
    meta = {"context": "prod", "meta": {"name": "payments"}}
    assert DECLARED.proposal("k8s_delete_meta", meta)["operations"][0]["target"] == "k8s:prod:namespace:payments"
    assert refused_argument("k8s_delete_meta", {**meta, "meta": {"name": "payments", "finalizers": []}}) \
        == "arguments.meta.finalizers"
    assert refused_argument("k8s_delete_meta", {"context": "prod", "meta.name": "payments"}) == "arguments.meta.name"


@pytest.mark.parametrize("tool, args, field", [
    ("shell", {"cmd": "ls", "cwd": "/"}, "arguments.cwd"),
    ("shell", {"cmd": "ls", "env": {"KUBECONFIG": "/tmp/k"}}, "arguments.env"),
    ("kubectl", {"args": ["get", "pods"], "context": "prod-cn-north-1"}, "arguments.context"),
])
def test_an_artifact_tool_takes_only_its_from_argument(tool, args, field):
    assert refused_argument(tool, args) == field


def test_program_is_prepended_to_an_argv_artifact():
    assert DECLARED.proposal("kubectl", {"args": ["delete", "ns", "prod"]}) == \
        {"intent": "", "argv": ["kubectl", "delete", "ns", "prod"]}
    for bad in ("delete ns prod", ["delete", 3], {"0": "delete"}):
        assert refused_argument("kubectl", {"args": bad}) == "arguments.args"


def test_program_kubectl_is_judged_as_a_kubectl_delete_not_an_unknown_program():
    from blastwall.engine import Engine
    from tests.conftest import SAMPLE_FLEET
    engine = Engine.load(SAMPLE_FLEET)
    delete_prod = {"args": ["delete", "ns", "prod"]}
    (op,) = parse_proposal({"agent": "a", **DECLARED.proposal("kubectl", delete_prod)}).operations
    assert op.note.startswith("kubectl delete ns prod") and "not a command the gateway can interpret" not in op.note
    bare = parse_mapping({"version": 1, "tools": {"kubectl": {"artifact": "argv", "from": "args"}}})
    (unknown,) = parse_proposal({"agent": "a", **bare.proposal("kubectl", delete_prod)}).operations
    assert "delete is not a command the gateway can interpret" in unknown.note      # what the old docs led to
    args = ["delete", "namespace", "payments", "--context", "prod-cn-north-1"]
    decision = engine.decide({"agent": "a", **DECLARED.proposal("kubectl", {"args": args})})
    assert decision.effect.value == "approve" and decision.impact.deleted == 2
    assert decision.impact.unknown_targets == ()


@pytest.mark.parametrize("spec, field", [
    ({"artifact": "command", "from": "cmd", "program": "bash"}, "tools.t.program"),
    ({"artifact": "argv", "from": "args", "program": "kubectl delete"}, "tools.t.program"),
    ({"artifact": "argv", "from": "args", "program": "-kubectl"}, "tools.t.program"),
    ({"artifact": "argv", "from": "args", "program": "/usr/bin/kubectl"}, "tools.t.program"),
    ({"artifact": "argv", "from": "args", "program": ["kubectl"]}, "tools.t.program"),
    ({"verb": "delete", "target": "x/{y}", "program": "kubectl"}, "tools.t.program"),
    ({"verb": "delete", "target": "x/{y}", "unjudged": "force"}, "tools.t.unjudged"),
    ({"verb": "delete", "target": "x/{y}", "unjudged": ["ok", 3]}, "tools.t.unjudged[1]"),
    ({"verb": "delete", "target": "x/{y}", "unjudged": [""]}, "tools.t.unjudged[0]"),
    ({"verb": "delete", "target": "x/{y}", "unjudged": ["a..b"]}, "tools.t.unjudged[0]"),
    ({"verb": "delete", "target": "x/{y}", "ignore": ["force"]}, "tools.t.ignore"),
    ({"artifact": "command", "from": "cmd", "verb": "delete"}, "tools.t.verb"),
])
def test_bad_program_and_unjudged_keys_name_the_field(spec, field):
    with pytest.raises(InputError) as err:
        parse_mapping({"version": 1, "tools": {"t": spec}})
    assert err.value.field == field


@given(st.text(min_size=1, max_size=12).filter(lambda k: k not in {*DELETE, "timeout_seconds", "opts"}), JSON)
def test_any_undeclared_argument_is_refused(key, value):
    assert refused_argument("k8s_delete", {**DELETE, key: value}) == f"arguments.{key}"


@given(st.sampled_from(["shell", "kubectl"]), st.text(min_size=1, max_size=12), JSON)
def test_an_artifact_tool_refuses_any_argument_but_from(tool, key, value):
    from_ = {"shell": "cmd", "kubectl": "args"}[tool]
    args = {from_: "ls" if tool == "shell" else ["get", "pods"], key: value}
    if key == from_:
        return
    assert refused_argument(tool, args) == f"arguments.{key}"


@given(st.dictionaries(st.sampled_from(["timeout_seconds", "opts"]), JSON, max_size=2))
def test_unjudged_arguments_never_change_the_proposal(extra):
    if "opts" in extra and not (isinstance(extra["opts"], dict) and set(extra["opts"]) <= {"dry_run"}):
        return                                           # opts.dry_run is declared, opts itself is not
    assert DECLARED.proposal("k8s_delete", {**DELETE, **extra}) == DECLARED.proposal("k8s_delete", DELETE)
