"""Engine.decide keeps measured blast radii (RadiusMemo): the same decisions as measuring every time."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from blastwall.core.decide import Context, decide
from blastwall.core.model import Operation, Proposal, Verb
from blastwall.engine import Engine, RadiusMemo
from tests.conftest import SAMPLE_FLEET, T0

IDS = [r["id"] for r in json.loads(SAMPLE_FLEET.read_text())["resources"]]


@pytest.fixture(scope="module")
def engine():
    return Engine.load(SAMPLE_FLEET)


operations = st.lists(st.builds(
    Operation,
    verb=st.sampled_from(list(Verb)),
    target=st.one_of(st.sampled_from(IDS), st.sampled_from(["env/prod-cn", "nope/missing"])),
    cost_per_month=st.sampled_from([0.0, 120.5]),
    destructive=st.booleans(), upsert=st.booleans()), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(operations, min_size=1, max_size=6), st.booleans())
def test_decisions_with_kept_radii_equal_measuring_each_time(engine, proposals, killed):
    for ops in proposals * 2:                                  # every proposal twice: a miss, then a hit
        proposal = Proposal("bot", "alice", "intent", tuple(ops))
        fresh = decide(engine.fleet, engine.policy, proposal, Context(T0, kill_switch=killed))
        assert engine.decide(proposal, now=T0, kill_switch=killed) == fresh


def test_a_selector_and_its_exact_fields_are_part_of_the_key(engine):
    a = Operation(Verb.RESTART, selector={"env": "prod", "region": "us-east-1"})
    b = Operation(Verb.RESTART, selector={"env": "prod", "region": "cn-north-1"})
    c = Operation(Verb.RESTART, selector={"region": "us-east-1", "env": "prod"})    # same, other order
    da, db, dc = (engine.decide(Proposal("bot", "alice", "", (op,)), now=T0) for op in (a, b, c))
    assert da.impact != db.impact and da.impact == dc.impact


def test_it_keeps_at_most_entries_and_never_large_radii(engine, monkeypatch):
    memo = RadiusMemo(engine.fleet)
    monkeypatch.setattr(RadiusMemo, "ENTRIES", 3)
    for target in IDS[:5]:
        memo.measure((Operation(Verb.RESTART, target),))
    assert len(memo._kept) == 3 and memo.misses == 5
    memo.measure((Operation(Verb.RESTART, IDS[4]),))
    assert memo.hits == 1
    monkeypatch.setattr(RadiusMemo, "MAX_TOUCHED", 2)
    radius, _ = memo.measure((Operation(Verb.DELETE, "env/prod-cn"),))
    assert radius.touched.size > 2 and len(memo._kept) == 3 and memo.misses == 6
    monkeypatch.setattr(RadiusMemo, "MAX_TOUCHED", 10_000)
    monkeypatch.setattr(RadiusMemo, "BUDGET", radius.touched.size)        # room for that one radius only
    memo.measure((Operation(Verb.DELETE, "env/prod-cn"),))
    assert len(memo._kept) == 1 and memo._size == radius.touched.size


def test_kept_arrays_are_read_only(engine):
    radius, _ = engine.radii.measure((Operation(Verb.DELETE, "env/prod-cn"),))
    with pytest.raises(ValueError):
        radius.touched[0] = 0
    assert all(not a.flags.writeable for a in radius.resolved.by_verb.values())
    assert isinstance(radius.deleted, np.ndarray) and not radius.deleted.flags.writeable
