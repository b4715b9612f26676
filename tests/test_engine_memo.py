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


def test_it_keeps_at_most_entries_and_bytes_and_never_a_large_measurement(engine, monkeypatch):
    memo = RadiusMemo(engine.fleet)
    monkeypatch.setattr(RadiusMemo, "ENTRIES", 3)
    for target in IDS[:5]:
        memo.measure((Operation(Verb.RESTART, target),))
    assert len(memo._kept) == 3 and memo.misses == 5
    memo.measure((Operation(Verb.RESTART, IDS[4]),))
    assert memo.hits == 1
    unknown = tuple(Operation(Verb.DELETE, f"nope/{i}-{'x' * 1000}") for i in range(300))   # names, no radius
    memo.measure(unknown)
    assert len(memo._kept) == 3 and memo.misses == 6 and memo._bytes <= RadiusMemo.MAX_ENTRY_BYTES * 3
    monkeypatch.setattr(RadiusMemo, "ENTRIES", 4096)
    monkeypatch.setattr(RadiusMemo, "BUDGET_BYTES", 20_000)
    for cost in range(100):                                          # distinct keys, one radius
        memo.measure((Operation(Verb.RESTART, IDS[0], cost_per_month=float(cost)),))
    assert memo._bytes <= 20_000 and len(memo._kept) < 100


def test_a_replaced_fleet_gets_its_own_memo(engine):
    from dataclasses import replace
    from blastwall.loaders.inventory import load_inventory
    other = replace(engine, fleet=load_inventory(SAMPLE_FLEET))
    op = (Operation(Verb.DELETE, "env/prod-cn"),)
    engine.decide(Proposal("bot", "alice", "", op), now=T0)
    assert other.decide(Proposal("bot", "alice", "", op), now=T0).impact == engine.decide(
        Proposal("bot", "alice", "", op), now=T0).impact
    assert other.radii is not engine.radii and other.radii.fleet is other.fleet


def test_kept_arrays_are_read_only(engine):
    radius, _ = engine.radii.measure((Operation(Verb.DELETE, "env/prod-cn"),))
    with pytest.raises(ValueError):
        radius.touched[0] = 0
    assert all(not a.flags.writeable for a in radius.resolved.by_verb.values())
    assert isinstance(radius.deleted, np.ndarray) and not radius.deleted.flags.writeable


def test_facts_kept_on_a_radius_follow_the_policy_and_are_never_shared(engine):
    """The facts kept on a radius are per production-environment list, and each decision gets
    lists of its own."""
    from blastwall.core.decide import measure, policy_facts
    from blastwall.loaders.policy import policy_from_text
    staging_is_prod = policy_from_text("version: 1\nextends: recommended\nparams: {production_envs: [staging]}\n")
    proposal = Proposal("bot", "alice", "", (Operation(Verb.RESTART, "env/staging-us"),))
    radius, impact = engine.radii.measure(proposal.operations)
    for policy in (engine.policy, staging_is_prod, engine.policy):
        kept = policy_facts(engine.fleet, policy, proposal, radius, impact, Context(T0))
        fresh = policy_facts(engine.fleet, policy, proposal, *measure(engine.fleet, proposal.operations), Context(T0))
        assert kept == fresh
        assert kept["impact.production"] is (policy is staging_is_prod)
        kept["impact.environments"].append("tampered")
    assert "tampered" not in policy_facts(engine.fleet, engine.policy, proposal, radius, impact,
                                          Context(T0))["impact.environments"]
