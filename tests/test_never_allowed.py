"""Fail-closed properties: random input is never allowed."""
import re
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from blastwall.core.decide import Context, decide
from blastwall.core.model import Effect
from blastwall.core.proposal import parse_proposal
from blastwall.errors import InputError

NOW = Context(datetime(2026, 3, 4, 12, tzinfo=timezone.utc))
DANGER = ["rm", "-rf", "kubectl", "delete", "terraform", "destroy", "apply", "eval", "$(", "`", "|", "sh",
          "bash", "-c", "xargs", "ssh", "python", "psql", "base64", "-d", "sudo", "env", "&&", ";", "||",
          "ns", "payments", "--context", "prod-cn-north-1", "<<EOF", ">", "'", '"', "\\", "${X}", "\n"]
HARMLESS = ["echo", "ls", "cat", "README", "-l", "grep", "x", "get", "pods"]
DANGER_WORDS = {"rm", "kubectl", "terraform", "eval", "sh", "bash", "xargs", "ssh", "python", "psql",
                "base64", "sudo", "env"}


def decide_doc(fleet, policy, doc):
    try:
        proposal = parse_proposal(doc)
    except InputError:
        return None                     # refused as bad input: not allowed either
    return decide(fleet, policy, proposal, NOW).effect


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_random_text_as_a_command_is_never_allowed_unless_it_is_a_harmless_read(sample_fleet, recommended, text):
    effect = decide_doc(sample_fleet, recommended, {"agent": "fuzz", "command": text})
    if effect is Effect.ALLOW:
        words = set(re.split(r"[\s;&|()<>`$'\"\\]+", text))
        assert not words & DANGER_WORDS, text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(DANGER + HARMLESS), min_size=1, max_size=12))
def test_random_shell_lines_with_a_dangerous_word_are_never_allowed(sample_fleet, recommended, tokens):
    line = " ".join(tokens)
    effect = decide_doc(sample_fleet, recommended, {"agent": "fuzz", "command": line})
    if any(t in DANGER_WORDS or t in {"$(", "`", "${X}", "<<EOF"} for t in tokens):
        assert effect is not Effect.ALLOW, line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_random_bytes_are_never_allowed_as_any_artifact(sample_fleet, recommended, blob):
    text = blob.decode("utf-8", "replace")
    for doc in ({"agent": "fuzz", "command": text},
                {"agent": "fuzz", "argv": [text] if text else [""]},
                {"agent": "fuzz", "argv": ["kubectl", *text.split()]},
                {"agent": "fuzz", "terraform_plan": {"resource_changes": text}}):
        effect = decide_doc(sample_fleet, recommended, doc)
        if effect is Effect.ALLOW:
            assert doc.get("argv", [""])[0] == "kubectl" and "delete" not in text, doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                    max_leaves=20))
def test_random_json_proposals_are_refused_or_not_allowed(sample_fleet, recommended, doc):
    effect = decide_doc(sample_fleet, recommended, doc)
    assert effect is None or effect is not Effect.ALLOW or _is_plain_benign(doc)


def _is_plain_benign(doc) -> bool:
    ops = doc.get("operations", []) if isinstance(doc, dict) else []
    return all(isinstance(o, dict) and o.get("verb") in ("read", "create") for o in ops)
