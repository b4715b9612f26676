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


def test_the_mapping_snippets_parse_and_judge_kubectl_args_as_kubectl():
    """A kubectl MCP tool's args come without the program: the documented mapping must add it."""
    import yaml

    from blastwall.integrations.mapping import parse_mapping
    for page in ("mcp.md", "agents.md"):
        (block,) = re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), re.S)
        mapping = parse_mapping(yaml.safe_load(block))
        assert mapping.proposal("kubectl", {"args": ["delete", "ns", "prod"]})["argv"][:2] == ["kubectl", "delete"]
