"""The demo that tells the story, end to end, with a scripted agent (no LLM).

An agent talks MCP to ``blastwall mcp serve --service URL`` (a real subprocess):
it proposes the Kiro change (delete and recreate env/prod-cn) and is denied with
an explanation; it follows the advice and proposes the cn-north-1 part only,
which needs an approval; a human without authority there (erin) is refused, one
with it (bob, then carol if more are needed) approves; the agent runs the
approved command through the ``kubectl`` executor with its grant against a
stand-in fleet (a fake kubectl first on PATH); every step lands in the audit log.

    lines = run_story("http://127.0.0.1:8470", {"kiro-ops-7": t1, "erin": t2, "bob": t3, "carol": t4}, tmpdir)
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import anyio
import httpx
from mcp import Client as McpClient
from mcp import StdioServerParameters

from blastwall.integrations.client import Client, RequestRefused

AGENT, OUTSIDER, APPROVERS = "kiro-ops-7", "erin", ("bob", "carol")
KIRO_CHANGE = [{"verb": "delete", "target": "env/prod-cn"}, {"verb": "create", "target": "env/prod-cn"}]
STAGED_ARGS = ["delete", "namespace", "--all", "--context", "prod-cn-north-1"]   # the cn-north-1 part only
TOKEN_VAR = "BLASTWALL_AGENT_TOKEN"
FLEET_LOG = "stand-in-fleet.log"
SERVE = "from blastwall.cli.main import main; main()"

_FAKE_KUBECTL = '''import json, sys
with open({log!r}, "a", encoding="utf-8") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
print("stand-in fleet: kubectl " + " ".join(sys.argv[1:]) + " -> done")
'''


def stand_in_kubectl(bin_dir: Path, log: Path) -> Path:
    """A fake kubectl that records its argv (one JSON list per line in ``log``) and prints one line."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "kubectl.py"
    script.write_text(_FAKE_KUBECTL.format(log=str(log)), encoding="utf-8")
    exe = bin_dir / "kubectl"
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))} \"$@\"\n")
    exe.chmod(0o755)
    return exe


def mcp_server_params(url: str, token: str, bin_dir: Path, cwd: Path) -> StdioServerParameters:
    """``blastwall mcp serve`` in service mode, with the stand-in fleet's bin first on PATH."""
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', os.defpath)}", TOKEN_VAR: token}
    return StdioServerParameters(command=sys.executable, cwd=str(cwd), env=env,
                                 args=["-c", SERVE, "mcp", "serve", "--service", url, "--token-env", TOKEN_VAR])


def run_story(url: str, tokens: dict[str, str], workdir: str | Path) -> list[str]:
    """Play the story against a running service; return the narration, one short line per step."""
    workdir = Path(workdir)
    stand_in_kubectl(workdir / "bin", workdir / FLEET_LOG)
    return anyio.run(_story, url, tokens, workdir)


async def _story(url: str, tokens: dict[str, str], workdir: Path) -> list[str]:
    lines: list[str] = []
    say = lines.append
    first_seq = await anyio.to_thread.run_sync(_audit_head, url, tokens[APPROVERS[0]])
    async with McpClient(mcp_server_params(url, tokens[AGENT], workdir / "bin", workdir)) as agent:
        say(f"{AGENT} proposes the Kiro change: delete and recreate env/prod-cn.")
        denied = (await agent.call_tool("propose_change", {
            "intent": "Environment is misconfigured; fastest fix is to delete and recreate it.",
            "operations": KIRO_CHANGE})).structured_content
        say(f"blastwall: {denied['effect'].upper()}. {_impact(denied['impact'])}")
        say(f"blastwall: safer alternative: {_advice(denied['explanation'])}")

        command = "kubectl " + " ".join(STAGED_ARGS)
        say(f"{AGENT} stages it, cn-north-1 first: {command}")
        staged = (await agent.call_tool("propose_change", {
            "intent": "Staged per region: recreate prod in cn-north-1 first, cn-northwest-1 after verifying.",
            "argv": ["kubectl", *STAGED_ARGS]})).structured_content
        rid, need = staged["approval_request_id"], staged["approval"]
        say(f"blastwall: {staged['effect'].upper()}. {_impact(staged['impact'])}")
        say(f"blastwall: needs {need['approvers']} approver(s) over {_scope(need)}: request {rid}.")

        grant = await anyio.to_thread.run_sync(_reviews, url, tokens, rid, say)

        status = (await agent.call_tool("approval_status", {"request_id": rid})).structured_content
        say(f"{AGENT} checks the request: {status['state']}, grant {status['grant_id']}.")
        ran = await agent.call_tool("kubectl", {"args": STAGED_ARGS, "grant_id": grant,
                                                "intent": "Approved staged change, cn-north-1 only."})
        out = ran.structured_content
        say(f"{AGENT} runs {command} with the grant: exit {out['exit_code']}.")
        say(f"fleet: {out['stdout'].strip()}")

    kinds = await anyio.to_thread.run_sync(_audit_kinds, url, tokens[APPROVERS[0]], first_seq)
    say(f"audit log: {' > '.join(kinds)}")
    return lines


def _reviews(url: str, tokens: dict[str, str], rid: str, say) -> str:
    """Humans review through the SDK client: the outsider is refused, approvers approve until granted."""
    with Client(url, tokens[OUTSIDER]) as erin:
        try:
            erin.review(rid, "approve", "looks fine to me")
            say(f"{OUTSIDER} approves: accepted (unexpected).")
        except RequestRefused as exc:
            say(f"{OUTSIDER} (prod eu-west-1 only) tries to approve: refused: {exc.message}")
    for name in APPROVERS:
        with Client(url, tokens[name]) as human:
            res = human.review(rid, "approve", "cn-north-1 only, staged: ok")
        granted = f", grant {res['grant_id']}." if res.get("grant_id") else "."
        say(f"{name} approves: request {res['state']}{granted}")
        if res.get("grant_id"):
            return res["grant_id"]
    raise RuntimeError("not enough approvers to grant the request")


def _audit_head(url: str, token: str) -> int:
    records = _audit(url, token, 0)
    while len(records) == 1000:
        records = _audit(url, token, records[-1]["seq"])
    return records[-1]["seq"] if records else 0


def _audit_kinds(url: str, token: str, after: int) -> list[str]:
    return [r["kind"] for r in _audit(url, token, after)]


def _audit(url: str, token: str, after: int) -> list[dict]:
    res = httpx.get(f"{url}/v1/audit", params={"after": after, "limit": 1000},
                    headers={"Authorization": f"Bearer {token}"}, timeout=10)
    res.raise_for_status()
    return res.json()


def _impact(impact: dict) -> str:
    return (f"{impact['deleted']} resources deleted, {impact['degraded']} degraded, "
            f"{impact['customers']:,} customers, regions {', '.join(impact['regions'])}.")


def _advice(explanation: str) -> str:
    return explanation.partition("Safer alternative:")[2].strip() or explanation


def _scope(approval: dict) -> str:
    return f"{'/'.join(approval['environments'])} in {', '.join(approval['regions'])}"
