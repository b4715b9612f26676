"""Impact equals a plain reference BFS on random graphs (cycles included)."""
import pytest
from hypothesis import given, settings, strategies as st

from blastwall.core.impact import blast_radius, resolve
from blastwall.core.model import Operation, Verb
from blastwall.loaders.inventory import fleet_from_records
from tests.core.reference import reference_impact

VERBS = [v.value for v in Verb]


@st.composite
def fleets_and_ops(draw):
    n = draw(st.integers(1, 25))
    ids = [f"r{i}" for i in range(n)]
    resources = []
    for i in range(n):
        rec = {"id": ids[i], "kind": draw(st.sampled_from(["svc", "db", "ns"])),
               "env": draw(st.sampled_from(["prod", "dev"])),
               "region": draw(st.sampled_from(["a", "b", "global"])),
               "depends_on": sorted(set(draw(st.lists(st.sampled_from(ids), max_size=4)))),
               "customers": draw(st.integers(0, 1000)),
               "stateful": draw(st.booleans()),
               "cost_per_month": float(draw(st.integers(0, 500)))}
        if draw(st.booleans()):
            rec["parent"] = draw(st.sampled_from(ids))      # self-parents and cycles are legal
        resources.append(rec)
    names = ids + ["ghost-1", "ghost-2"]
    ops = draw(st.lists(st.tuples(st.sampled_from(VERBS), st.sampled_from(names)), min_size=1, max_size=5))
    return resources, ops


@settings(max_examples=300, deadline=None)
@given(fleets_and_ops())
def test_impact_matches_reference(case):
    resources, ops = case
    fleet = fleet_from_records(resources)
    got = blast_radius(fleet, resolve(fleet, [Operation(Verb(v), t) for v, t in ops])).impact().to_dict()
    want = reference_impact(resources, ops)
    for key, value in want.items():
        if key == "cost_delta_per_month":
            assert got[key] == pytest.approx(value)
        else:
            assert got[key] == value, key
    assert got["fleet_fraction"] == pytest.approx(want["resources"] / len(resources), abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(fleets_and_ops())
def test_impact_is_deterministic_and_order_free(case):
    resources, ops = case
    a = fleet_from_records(resources)
    b = fleet_from_records(list(reversed(resources)))
    op_list = [Operation(Verb(v), t) for v, t in ops]
    first = blast_radius(a, resolve(a, op_list)).impact()
    second = blast_radius(b, resolve(b, list(reversed(op_list)))).impact()
    assert first == second


def test_a_mutating_selector_matching_nothing_is_an_unknown_target():
    fleet = fleet_from_records([{"id": "a", "kind": "svc", "env": "dev"}])
    ops = [Operation(Verb.DELETE, selector={"env": "prod"}), Operation(Verb.READ, selector={"env": "qa"})]
    impact = blast_radius(fleet, resolve(fleet, ops)).impact()
    assert impact.unknown_targets == ('<selector matching nothing: {"env": "prod"}>',)
