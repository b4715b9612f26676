import numpy as np
from hypothesis import given, settings, strategies as st

from blastwall.core.graph import CSR, closure, match
from blastwall.core.strings import StringTable
from blastwall.loaders.inventory import fleet_from_records

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.sets(text, max_size=40), text)
def test_string_table_finds_exactly_its_members(strings, probe):
    ordered = sorted(strings, key=lambda s: s.encode())
    table = StringTable.from_sorted(ordered)
    for i, s in enumerate(ordered):
        assert table.find(s) == i
        assert table[i] == s
    assert (table.find(probe) >= 0) == (probe in strings)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.text("ab:/", max_size=6), max_size=30), st.text("ab:/", max_size=3))
def test_prefix_range_is_exactly_the_prefixed_strings(strings, prefix):
    ordered = sorted(strings, key=lambda s: s.encode())
    lo, hi = StringTable.from_sorted(ordered).prefix_range(prefix)
    assert ordered[lo:hi] == [s for s in ordered if s.startswith(prefix)]


def _reference_reach(n, edges, sources):
    seen, stack = set(sources), list(sources)
    while stack:
        u = stack.pop()
        for a, b in edges:
            if a == u and b not in seen:
                seen.add(b)
                stack.append(b)
    return sorted(seen)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=200),
    st.lists(st.integers(0, n - 1), min_size=1, max_size=8))))
def test_closure_equals_reference_reachability(case):
    n, edges, sources = case
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    csr = CSR.from_edges(src, dst, n)
    assert closure(csr, np.array(sources), n).tolist() == _reference_reach(n, edges, sources)


def test_closure_terminates_on_a_cycle_and_includes_sources():
    csr = CSR.from_edges(np.array([0, 1, 2]), np.array([1, 2, 0]), 4)
    assert closure(csr, np.array([1]), 4).tolist() == [0, 1, 2]
    assert closure(csr, np.array([3]), 4).tolist() == [3]


FLEET = [
    {"id": "a", "kind": "svc", "env": "prod", "region": "x", "tags": {"team": "web"}, "aliases": ["k8s:c:deployment:ns/a"]},
    {"id": "b", "kind": "svc", "env": "dev", "region": "x", "tags": {"team": "web"}, "aliases": ["k8s:c:deployment:ns/b"]},
    {"id": "c", "kind": "db", "env": "prod", "region": "y", "stateful": True, "aliases": ["k8s:c:statefulset:ns/c"]},
]


def test_match_by_fields_tags_alias_prefix_and_stateful():
    fleet = fleet_from_records(FLEET)
    ids = lambda mask: sorted(fleet.id_of(i) for i in np.flatnonzero(mask))  # noqa: E731
    assert ids(match(fleet, {"kind": "svc", "env": "prod"})) == ["a"]
    assert ids(match(fleet, {"tags": {"team": "web"}})) == ["a", "b"]
    assert ids(match(fleet, {"tags": {"team": "web", "tier": "x"}})) == []
    assert ids(match(fleet, {"alias_prefix": "k8s:c:deployment:ns/"})) == ["a", "b"]
    assert ids(match(fleet, {"stateful": True})) == ["c"]
    assert ids(match(fleet, {"env": "nowhere"})) == []


def test_lookup_by_id_and_alias():
    fleet = fleet_from_records(FLEET)
    assert fleet.id_of(fleet.lookup("k8s:c:statefulset:ns/c")) == "c"
    assert fleet.id_of(fleet.lookup("b")) == "b"
    assert fleet.lookup("k8s:c:statefulset:ns/") == -1


def test_alias_prefix_also_matches_ids_in_alias_form():
    fleet = fleet_from_records([{"id": "k8s:c:pod:ns/a", "kind": "pod"}, {"id": "k8s:c:pod:other/b", "kind": "pod"}])
    assert [fleet.id_of(i) for i in np.flatnonzero(match(fleet, {"alias_prefix": "k8s:c:pod:ns/"}))] == ["k8s:c:pod:ns/a"]


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(
    st.just(n), st.sets(st.integers(0, n - 1)), st.sets(st.integers(0, n - 1)))))
def test_sorted_set_operations_match_python_sets(case):
    from blastwall.core import sets
    n, a, b = case
    arr = lambda s: np.array(sorted(s), dtype=np.int64)  # noqa: E731
    assert sets.union(arr(a), arr(b), n).tolist() == sorted(a | b)
    assert sets.difference(arr(a), arr(b), n).tolist() == sorted(a - b)
