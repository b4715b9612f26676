"""The scenario suite: every directory under tests/scenarios/{shared,own} with a scenario.json.

Each scenario is decided twice: in process through ``blastwall.scenarios.Scenario``
(exact impact numbers, rules, approvers) and through the real ``blastwall check --json``
command (exit status and the one JSON object on stdout).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blastwall.core.model import Decision
from blastwall.errors import BlastwallError
from blastwall.scenarios import Scenario

TESTS = Path(__file__).resolve().parent
SCENARIOS = TESTS / "scenarios"
SHARED = SCENARIOS / "shared"
OWN = SCENARIOS / "own"
PACKAGED = TESTS.parent / "src" / "blastwall" / "data"
DIRS = sorted(p.parent for p in SCENARIOS.glob("*/*/scenario.json"))
EXIT = {"allow": 0, "approve": 10, "deny": 20}
EFFECTS = set(EXIT)
INPUTS = ("proposal_file", "argv", "command", "terraform_plan_file")
ENGINES: dict = {}      # engines shared between scenarios with the same inventory and policy


def _id(directory: Path) -> str:
    return f"{directory.parent.name}/{directory.name}"


def _specs(root: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*/scenario.json"))}


# ---- in process ---------------------------------------------------------------------

@pytest.mark.parametrize("directory", DIRS, ids=_id)
def test_scenario(directory: Path) -> None:
    scenario = Scenario.load(directory)
    try:
        decision = scenario.run(ENGINES)
    except BlastwallError as exc:
        pytest.fail(f"{_id(directory)}: the engine refused the scenario's input: {exc}")
    problems = scenario.mismatches(decision)
    assert not problems, (f"{_id(directory)}: " + "; ".join(problems)
                          + f"\n  reasons: {[r.rule for r in decision.reasons]}"
                          + f"\n  impact: {decision.impact.to_dict()}\n  {decision.explanation}")
    wire = decision.to_dict()
    assert Decision.from_dict(json.loads(json.dumps(wire))).to_dict() == wire     # what clients read back


# ---- the suite itself -----------------------------------------------------------------

@pytest.mark.parametrize("directory", DIRS, ids=_id)
def test_scenario_is_well_formed(directory: Path) -> None:
    spec = json.loads((directory / "scenario.json").read_text(encoding="utf-8"))
    assert spec["name"] == directory.name
    assert spec.get("kind") in {"benign", "dangerous", "bypass"}
    assert spec.get("story", "").strip() and "\n" not in spec["story"]
    assert [k for k in INPUTS if k in spec["input"]] and len([k for k in INPUTS if k in spec["input"]]) == 1
    assert spec["expect"]["effect_in"] and set(spec["expect"]["effect_in"]) <= EFFECTS
    assert (directory / spec["inventory_file"]).is_file()
    for key in ("proposal_file", "terraform_plan_file"):
        if key in spec["input"]:
            assert (directory / spec["input"][key]).is_file()
    if "policy_file" in spec:
        assert (directory / spec["policy_file"]).is_file()
    if spec["kind"] == "bypass":
        assert "allow" not in spec["expect"]["effect_in"], "a bypass attempt may never be allowed"


def test_own_suite_is_large_and_not_trigger_happy() -> None:
    """A gate that escalates everything gets switched off: a third of our scenarios must be allowed."""
    own = _specs(OWN)
    assert len(own) >= 35
    allowed = [n for n, s in own.items() if s["expect"]["effect_in"] == ["allow"]]
    assert len(allowed) * 3 >= len(own), f"only {len(allowed)} of {len(own)} scenarios expect allow"


# ---- packaged demo copies --------------------------------------------------------------

def test_packaged_scenarios_match_shared() -> None:
    packaged_root = PACKAGED / "scenarios"
    packaged, shared = _specs(packaged_root), _specs(SHARED)
    assert sorted(packaged) == sorted(shared)
    for name, spec in shared.items():
        copy = dict(packaged[name])
        assert copy.pop("inventory_file") == "../../sample-fleet.json", name
        original = dict(spec)
        original.pop("inventory_file")
        assert copy == original, name
        files = {p.name for p in (SHARED / name).iterdir() if p.name != "scenario.json"}
        assert files == {p.name for p in (packaged_root / name).iterdir() if p.name != "scenario.json"}, name
        for fname in files:
            assert (packaged_root / name / fname).read_bytes() == (SHARED / name / fname).read_bytes(), f"{name}/{fname}"


def test_packaged_sample_fleet_is_the_acme_fleet() -> None:
    packaged = json.loads((PACKAGED / "sample-fleet.json").read_text(encoding="utf-8"))
    shared = json.loads((SHARED / "acme-fleet.json").read_text(encoding="utf-8"))
    assert packaged == shared


# ---- through the real command line -------------------------------------------------------

def _blastwall() -> list[str]:
    script = Path(sys.executable).with_name("blastwall")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from blastwall.cli.main import main; main()"]


def _check_args(directory: Path, spec: dict) -> list[str]:
    args = ["check", "--json", "--inventory", str((directory / spec["inventory_file"]).resolve())]
    if "policy_file" in spec:
        args += ["--policy", str((directory / spec["policy_file"]).resolve())]
    if "at" in spec:
        args += ["--at", spec["at"]]
    if spec.get("kill_switch"):
        args.append("--kill-switch")
    given = spec["input"]
    if "proposal_file" in given:
        return args + ["--proposal", str((directory / given["proposal_file"]).resolve())]
    if "terraform_plan_file" in given:
        return args + ["--terraform-plan", str((directory / given["terraform_plan_file"]).resolve())]
    if "command" in given:
        return args + ["--command", given["command"]]
    return args + ["--argv", *given["argv"]]          # --argv comes last


@pytest.mark.parametrize("directory", DIRS, ids=_id)
def test_scenario_through_cli(directory: Path) -> None:
    spec = json.loads((directory / "scenario.json").read_text(encoding="utf-8"))
    # cwd: files an artifact names (kubectl -f) are relative to the scenario, as in Scenario.run
    done = subprocess.run(_blastwall() + _check_args(directory, spec), cwd=directory,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode in EXIT.values(), f"exit {done.returncode}: {done.stderr}"
    decision, end = json.JSONDecoder().raw_decode(done.stdout)
    assert isinstance(decision, dict) and not done.stdout[end:].strip(), \
        f"stdout is not exactly one JSON object: {done.stdout!r}"
    assert done.returncode == EXIT[decision["effect"]]
    assert decision["effect"] in spec["expect"]["effect_in"], (decision["effect"], decision["explanation"])
