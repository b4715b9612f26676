import json

import pytest

from blastwall.errors import InventoryError
from blastwall.loaders.inventory import load_inventory
from blastwall.loaders.snapshot import load_snapshot, save_snapshot

GOOD = [{"id": "net", "kind": "network"},
        {"id": "db", "kind": "database", "parent": "net", "stateful": True, "tags": {"t": "1"}},
        {"id": "app", "kind": "service", "depends_on": ["db"], "aliases": ["k8s:c:deployment:ns/app"]}]


def write_yaml(tmp_path, text):
    p = tmp_path / "inv.yaml"
    p.write_text(text)
    return p


def write_jsonl(tmp_path, records, name="inv.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return p


def test_the_three_formats_load_the_same_fleet(tmp_path):
    js = tmp_path / "inv.json"
    js.write_text(json.dumps({"version": 1, "resources": GOOD}))
    import yaml
    ya = write_yaml(tmp_path, yaml.safe_dump({"version": 1, "resources": GOOD}))
    jl = write_jsonl(tmp_path, GOOD)
    fleets = [load_inventory(p) for p in (js, ya, jl)]
    for f in fleets:
        assert f.size == 3
        assert f.id_of(f.lookup("k8s:c:deployment:ns/app")) == "app"
        assert f.dependents.indices.tolist() == fleets[0].dependents.indices.tolist()
        assert f.tags["t"].vocab[f.tags["t"].codes[f.lookup("db")]] == "1"


@pytest.mark.parametrize("text, line, field", [
    ("version: 1\nresources:\n  - id: a\n    kind: x\n  - id: a\n    kind: y\n", 5, "id"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n    parent: ghost\n", 3, "parent"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n  - id: b\n    kind: x\n    depends_on: [a, nope]\n", 5, "depends_on"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n  - id: b\n    depend_on: [a]\n    kind: x\n", 5, "resources[1].depend_on"),
    ("version: 1\nresources:\n  - id: 'has space'\n    kind: x\n", 3, "resources[0].id"),
    ("version: 1\nresources:\n  - id: a\n", 3, "resources[0].kind"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n    customers: -3\n", 3, "resources[0].customers"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n    tags: {a: 1}\n", 3, "resources[0].tags"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n    aliases: [b]\n  - id: b\n    kind: x\n", 3, "aliases"),
    ("version: 1\nresources:\n  - id: a\n    kind: x\n    aliases: [z]\n  - id: b\n    kind: x\n    aliases: [z]\n", 6, "aliases"),
    ("version: 1\nresources: [\n", 3, None),
])
def test_yaml_errors_name_line_and_field(tmp_path, text, line, field):
    with pytest.raises(InventoryError) as err:
        load_inventory(write_yaml(tmp_path, text))
    assert err.value.line == line
    assert err.value.field == field
    assert str(err.value).startswith(str(tmp_path / "inv.yaml") + f":{line}")


def test_yaml_aliases_are_refused(tmp_path):
    text = "version: 1\nresources:\n  - &r {id: a, kind: x}\n  - *r\n"
    with pytest.raises(InventoryError, match="aliases"):
        load_inventory(write_yaml(tmp_path, text))


@pytest.mark.parametrize("bad, line", [
    ('{"id": "b", "kind": 3}', 2),
    ('{"id": "b", "kind": "x", "depends_on": ["zz"]}', 2),
    ('not json', 2),
    ('{"id": "a", "kind": "x"}', 2),
    ('{"id": "b", "kind": "x", "customers": 1.5}', 2),
    ('{"id": "b", "kind": "x", "stateful": "yes"}', 2),
])
def test_jsonl_errors_name_the_line(tmp_path, bad, line):
    path = write_jsonl(tmp_path, [{"id": "a", "kind": "x"}, bad, {"id": "c", "kind": "x"}])
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.line == line, str(err.value)


def test_jsonl_blank_lines_are_skipped_and_lines_still_right(tmp_path):
    path = write_jsonl(tmp_path, [{"id": "a", "kind": "x"}, "", {"id": "b", "kind": "x", "parent": "q"}])
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.line == 3


def test_wrapper_errors(tmp_path):
    for text, fld in (("version: 2\nresources: []\n", "version"), ("version: 1\nresources: {}\n", "resources")):
        with pytest.raises(InventoryError) as err:
            load_inventory(write_yaml(tmp_path, text))
        assert err.value.field == fld
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(InventoryError, match="unknown inventory format"):
        load_inventory(tmp_path / "x.txt")
    with pytest.raises(InventoryError, match="no such"):
        load_inventory(tmp_path / "missing.yaml")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    with pytest.raises(InventoryError, match="UTF-8"):
        load_inventory(tmp_path / "bin.json")


def test_snapshot_round_trip_is_identical(tmp_path, sample_fleet):
    path = tmp_path / "fleet.bwsnap"
    save_snapshot(sample_fleet, path)
    again = load_snapshot(path)
    assert again.size == sample_fleet.size and again.revision == sample_fleet.revision
    for i in range(sample_fleet.size):
        assert again.id_of(i) == sample_fleet.id_of(i)
    assert again.dependents.indices.tolist() == sample_fleet.dependents.indices.tolist()
    assert again.lookup("k8s:prod-cn-north-1:namespace:payments") == \
        sample_fleet.lookup("k8s:prod-cn-north-1:namespace:payments")
    assert again.columns["env"].vocab == sample_fleet.columns["env"].vocab


def test_corrupt_snapshots_are_refused(tmp_path, sample_fleet):
    path = tmp_path / "fleet.bwsnap"
    save_snapshot(sample_fleet, path)
    data = path.read_bytes()
    (tmp_path / "trunc.bwsnap").write_bytes(data[: len(data) // 2])
    with pytest.raises(InventoryError, match="truncated"):
        load_inventory(tmp_path / "trunc.bwsnap")
    (tmp_path / "magic.bwsnap").write_bytes(b"NOTASNAP" + data[8:])
    with pytest.raises(InventoryError, match="magic"):
        load_inventory(tmp_path / "magic.bwsnap")


@pytest.mark.parametrize("cost", [1e308, -1e13, 10 ** 400, float("nan")])
def test_a_cost_out_of_range_is_refused_naming_its_line(tmp_path, cost):
    """Two resources at 1e308 summed to infinity in an impact, and the service answered 500."""
    records = [{"id": "a", "kind": "vm", "cost_per_month": 10}, {"id": "b", "kind": "vm", "cost_per_month": cost}]
    path = tmp_path / "inv.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))      # 10 ** 400 and NaN: Python's JSON writes them
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert err.value.line == 2 and "cost_per_month" in str(err.value)
