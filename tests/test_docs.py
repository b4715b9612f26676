"""The docs are part of the product: keep them true."""
import re
from pathlib import Path

from blastwall.core.policy.facts import FACTS
from blastwall.loaders.policy import builtin_policy_doc

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_fact_is_documented_with_its_type():
    text = (DOCS / "policy.md").read_text()
    documented = dict(re.findall(r"^\| `([a-z_]+\.[a-z_.]+)` \| (\w+) \|", text, re.M))
    assert set(documented) == set(FACTS)
    for name, kind in FACTS.items():
        assert documented[name] == {"list<string>": "list"}.get(kind, kind), name


def test_every_builtin_rule_is_documented():
    text = (DOCS / "policy.md").read_text()
    doc = builtin_policy_doc()
    for rule in doc["guards"] + doc["recommended"]["rules"]:
        name = rule["name"]
        assert f"`{name}`" in text or f"`{name.rsplit('-', 1)[0]}` / `-{name.rsplit('-', 1)[1]}`" in text, name
