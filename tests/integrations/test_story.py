"""The demo story end to end: a scripted agent, the MCP server, a real service, humans, a stand-in fleet."""
from __future__ import annotations

import json

import httpx

from blastwall.integrations.story import FLEET_LOG, STAGED_ARGS, run_story
from tests.service.conftest import PEOPLE, token


def test_the_story(service, tmp_path):
    lines = run_story(service.url, {name: token(name) for name in PEOPLE}, tmp_path)
    story = "\n".join(lines)

    assert "kiro-ops-7 proposes the Kiro change" in lines[0]
    assert "DENY. 59 resources deleted" in story and "cn-north-1, cn-northwest-1" in story
    assert "safer alternative: Split the change per region" in story
    assert "APPROVE. 12 resources deleted" in story and "regions cn-north-1." in story
    assert "erin (prod eu-west-1 only) tries to approve: refused" in story and "regions cn-north-1" in story
    assert "bob approves: request approved, grant grant_" in story
    assert "with the grant: exit 0" in story
    assert all(len(line) <= 200 for line in lines)

    fleet_calls = [json.loads(line) for line in (tmp_path / FLEET_LOG).read_text().splitlines()]
    assert fleet_calls == [STAGED_ARGS]                   # only the approved single-region change ran

    records = httpx.get(f"{service.url}/v1/audit", params={"limit": 1000},
                        headers={"Authorization": f"Bearer {token('root')}"}).json()
    kinds = [r["kind"] for r in records]
    assert kinds == ["proposal", "decision",                                  # the Kiro change: denied
                     "proposal", "decision", "approval_requested",            # the staged cn-north-1 part
                     "review_rejected",                                       # erin: outside her authority
                     "review", "grant",                                       # bob approves
                     "redeem", "execution"]                                   # the agent runs it with the grant
    assert lines[-1] == "audit log: " + " > ".join(kinds)
    by_kind = {r["kind"]: r for r in records}
    assert by_kind["review_rejected"]["actor"] == "erin" and by_kind["review"]["actor"] == "bob"
    assert by_kind["execution"]["payload"]["outcome"]["argv"] == ["kubectl", *STAGED_ARGS]
    assert by_kind["execution"]["payload"]["outcome"]["exit_code"] == 0
    assert [r["payload"]["decision"]["effect"] for r in records if r["kind"] == "decision"] == ["deny", "approve"]
