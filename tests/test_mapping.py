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
