"""The benchmark's fleet generator: valid contract JSONL, realistic shape, deterministic."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fleetgen  # noqa: E402

from blastwall.core.graph import closure  # noqa: E402
from blastwall.loaders.inventory import load_inventory  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("fleet") / "fleet.jsonl"
    marks = fleetgen.write_jsonl(path, 2000, seed=3)
    return path, marks, [json.loads(line) for line in path.read_text().splitlines()]


def test_loads_with_exact_size_and_no_dangling_refs(small):
    path, marks, records = small
    fleet = load_inventory(path)            # raises on dangling parent / depends_on
    assert fleet.size == len(records) == 2000
    assert all(fleet.lookup(t) >= 0 for t in marks.values())


def test_about_five_edges_per_resource(small):
    _, _, records = small
    edges = sum(len(r.get("depends_on", [])) + bool(r.get("parent")) for r in records)
    assert 4 <= edges / len(records) <= 6


def test_shape(small):
    path, marks, records = small
    kinds = {r["kind"] for r in records}
    assert {"network", "dns", "iam", "cluster", "service", "deployment", "pod", "database",
            "load_balancer"} <= kinds
    assert {r["env"] for r in records} == {"prod", "staging", "dev"}
    assert any(r.get("customers") for r in records if r["kind"] == "load_balancer")
    assert any(r.get("stateful") for r in records if r["kind"] == "database")
    assert any(r.get("aliases") for r in records)
    fleet = load_inventory(path)
    reach = closure(fleet.dependents, np.array([fleet.lookup(marks["platform"])]), fleet.size).size
    assert 0.35 < reach / fleet.size < 0.65            # the platform landmark reaches about half


def test_deterministic_by_seed(tmp_path):
    a, b, c = (tmp_path / f"{k}.jsonl" for k in "abc")
    fleetgen.write_jsonl(a, 1000, seed=1)
    fleetgen.write_jsonl(b, 1000, seed=1)
    fleetgen.write_jsonl(c, 1000, seed=2)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
