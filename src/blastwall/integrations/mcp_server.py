"""`blastwall mcp serve`: an MCP server through which an agent proposes and runs changes.

Tools: ``propose_change`` and ``approval_status`` (ask), and the guarded executors
``kubectl``, ``terraform_apply`` and ``run_command`` (act).  An executor runs only
when the decision is allow, or when the service redeems a grant for exactly the
command given; it runs with the gateway's allowlisted environment, never a shell,
and reports the outcome to the service's audit log.
"""
from __future__ import annotations

import hmac
import json
import shlex
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field
from starlette.responses import JSONResponse

from blastwall.core.interpret.terraform_plan import interpret_plan
from blastwall.errors import ProposalError
from blastwall.integrations.executor import Outcome, Runner, check_argv
from blastwall.integrations.guard import Go, Guard, Stop, authorize
from blastwall.integrations.mcp_results import failure, result, stopped, verdict_result
from blastwall.loaders.jsonfile import read_json_file

MAX_PLAN_BYTES = 64 * 2**20
INSTRUCTIONS = (
    "blastwall guards infrastructure changes. Propose a change with propose_change, or run it through "
    "kubectl, terraform_apply or run_command: each is decided first (allow / approve / deny). A denial "
    "explains why and suggests a safer alternative: follow it. An approval request must be approved by "
    "humans; poll approval_status, then call the executor again with the same arguments and grant_id.")
RETRY = "call the executor again with the same arguments and grant_id set to the grant"

Grant = Annotated[str | None, Field(description="A grant id from approval_status, for an approved change.")]
Intent = Annotated[str, Field(description="Why you want this change (stored and shown to reviewers).")]


def build_server(guard: Guard, runner: Runner) -> MCPServer:
    server = MCPServer("blastwall", instructions=INSTRUCTIONS, log_level="WARNING")
    ask = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    act = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)

    @server.tool(annotations=ask, description=(
        "Decide a proposed change without running it: give operations, or one artifact (argv, command, "
        "terraform_plan or terraform_plan_file), and your intent. Returns the decision, impact and explanation."))
    def propose_change(
            intent: Intent = "",
            operations: Annotated[list[dict[str, Any]] | None, Field(description=(
                "Operations: {verb, target} or {verb, selector}; verbs read, create, update, delete, "
                "replace, restart, scale, exec; selector fields such as env, region, kind, tags."))] = None,
            argv: Annotated[list[str] | None, Field(description="A command as argv.")] = None,
            command: Annotated[str | None, Field(description="A shell command string.")] = None,
            terraform_plan: Annotated[dict[str, Any] | None,
                                      Field(description="JSON of terraform show -json PLANFILE.")] = None,
            terraform_plan_file: Annotated[str | None,
                                           Field(description="Path of that JSON on the gateway.")] = None,
    ) -> CallToolResult:
        try:
            doc: dict[str, Any] = {"intent": intent}
            if operations is not None:
                doc["operations"] = operations
            artifacts = {"argv": argv, "command": command, "terraform_plan": terraform_plan}
            doc.update({k: v for k, v in artifacts.items() if v is not None})
            if terraform_plan_file is not None:
                if terraform_plan is not None:
                    raise ProposalError("give terraform_plan or terraform_plan_file, not both")
                doc["terraform_plan"] = _read_plan(terraform_plan_file)
            return verdict_result(guard.propose(doc), guard.mode, "run the same change through an executor "
                                  "tool (kubectl, terraform_apply, run_command) with grant_id")
        except Exception as exc:  # noqa: BLE001  every failure is a refusal the model can read
            return failure(exc)

    @server.tool(annotations=ask, description=(
        "State of an approval request (pending, approved, vetoed, expired, void) and its grant id once "
        "approved. wait_seconds > 0 waits that long (at most 300) for a decision."))
    def approval_status(request_id: str, wait_seconds: Annotated[float, Field(ge=0, le=300)] = 0) -> CallToolResult:
        try:
            req = guard.approval(request_id, wait_seconds)
        except Exception as exc:  # noqa: BLE001
            return failure(exc)
        return _status_result(req)

    @server.tool(annotations=act, description=(
        "Run kubectl with these arguments (everything after 'kubectl'; name the --context), if blastwall "
        "allows it or a grant for exactly this command is given."))
    def kubectl(args: Annotated[list[str], Field(description="Arguments after 'kubectl'.")],
                grant_id: Grant = None, intent: Intent = "") -> CallToolResult:
        argv = ["kubectl", *args]
        return _guarded(guard, runner, {"intent": intent, "argv": argv}, argv, grant_id)

    @server.tool(annotations=act, description=(
        "Apply a saved Terraform plan. plan_json is the JSON of `terraform show -json PLANFILE`; the plan "
        "file is plan_file or the JSON's path without .json. The plan JSON is what blastwall decides."))
    def terraform_apply(plan_json: str, plan_file: str | None = None, grant_id: Grant = None,
                        intent: Intent = "") -> CallToolResult:
        with tempfile.TemporaryDirectory(prefix="blastwall-plan-") as private:
            try:
                plan, binary = _read_plan(plan_json), _plan_binary(plan_json, plan_file)
                frozen = Path(private) / binary.name        # what is checked is what is applied
                shutil.copyfile(binary, frozen)
                in_config = replace(runner, cwd=str(binary.parent))
                _same_plan(in_config, plan, frozen)
            except Exception as exc:  # noqa: BLE001
                return failure(exc)
            argv = ["terraform", "apply", "-input=false", str(frozen)]
            doc = {"intent": intent, "terraform_plan": plan}
            return _guarded(guard, in_config, doc, argv, grant_id)

    @server.tool(annotations=act, description=(
        "Run a command given as argv (never a shell string), if blastwall allows it or a grant for "
        "exactly this argv is given."))
    def run_command(argv: Annotated[list[str], Field(description="Program and arguments.")],
                    grant_id: Grant = None, intent: Intent = "") -> CallToolResult:
        return _guarded(guard, runner, {"intent": intent, "argv": argv}, argv, grant_id)

    return server


def _guarded(guard: Guard, runner: Runner, doc: dict, argv: list[str], grant_id: str | None) -> CallToolResult:
    try:
        check_argv(argv)
        decision = authorize(guard, doc, grant_id)
    except Exception as exc:  # noqa: BLE001
        return failure(exc)
    if isinstance(decision, Stop):
        return stopped(decision, guard.mode, RETRY)
    outcome = runner.run(argv)
    try:
        guard.report(decision.proposal_id, {"via": "mcp", "grant_id": grant_id, **outcome.report()})
        unreported = None
    except Exception as exc:  # noqa: BLE001  it ran; say that the audit record is missing
        unreported = f"the outcome could not be recorded in the audit log: {exc}"
    return _ran(outcome, decision, unreported)


def _ran(outcome: Outcome, go: Go, unreported: str | None) -> CallToolResult:
    how = f"with grant {go.grant_id}" if go.grant_id else "allowed"
    status = outcome.error or f"exit {outcome.exit_code}"
    lines = [f"Ran `{shlex.join(outcome.argv)}` ({how}): {status}."]
    lines += [s for s in (outcome.stdout.rstrip(), outcome.stderr.rstrip()) if s]
    if outcome.truncated:
        lines.append("[output truncated]")
    if unreported:
        lines.append(f"WARNING: {unreported}")
    data = {"executed": outcome.error is None or outcome.timed_out, "proposal_id": go.proposal_id,
            "grant_id": go.grant_id, **outcome.to_dict()}
    if go.verdict:
        data["decision"] = go.verdict.to_dict()
    return result("\n".join(lines), data, error=not outcome.ok)


def _status_result(req: dict) -> CallToolResult:
    grant = req.get("grant") or {}
    reviews = [{k: r.get(k) for k in ("reviewer", "verdict", "accepted", "reason")} for r in req.get("reviews", [])]
    data = {"request_id": req["id"], "state": req["state"], "proposal_id": req["proposal_id"],
            "required": req["approvers"], "scope": req["scope"],
            "approvals": sum(1 for r in reviews if r["accepted"] and r["verdict"] == "approve"),
            "reviews": reviews, "grant_id": grant.get("id"), "grant_expires_at": grant.get("expires_at")}
    if req["state"] == "approved" and grant.get("id"):
        text = f"APPROVED: grant {grant['id']} (expires {grant.get('expires_at')}). {RETRY[0].upper() + RETRY[1:]}."
    elif req["state"] == "pending":
        text = f"PENDING: {data['approvals']} of {data['required']} approval(s) so far."
    else:
        text = f"Request is {req['state']}: it will not be granted; propose again if the change is still needed."
    return result(text, data, error=req["state"] not in ("pending", "approved"))


def _read_plan(path: str) -> dict:
    plan = read_json_file(path, MAX_PLAN_BYTES, ProposalError)
    if not isinstance(plan, dict):
        raise ProposalError("a plan is a JSON object (terraform show -json PLANFILE)", source=path)
    return plan


def _plan_binary(plan_json: str, plan_file: str | None) -> Path:
    binary = Path(plan_file) if plan_file else Path(plan_json).with_suffix("")
    if binary == Path(plan_json) or not binary.is_file():
        raise ProposalError("no saved plan file next to the JSON (or at plan_file)", source=str(binary))
    return binary.resolve()


def _same_plan(runner: Runner, plan: dict, binary: Path) -> None:
    """The binary plan must be the plan that was judged: compare its own JSON's resource changes."""
    shown = replace(runner, max_output=MAX_PLAN_BYTES).run(["terraform", "show", "-json", str(binary)])
    try:
        actual = json.loads(shown.stdout) if shown.ok and not shown.truncated else None
    except json.JSONDecodeError:
        actual = None
    if not isinstance(actual, dict):
        why = shown.error or f"terraform show -json exited {shown.exit_code}"
        raise ProposalError(f"cannot read the saved plan to check it ({why})", source=str(binary))
    if _changes(actual) != _changes(plan) or interpret_plan(actual) != interpret_plan(plan):
        raise ProposalError("the saved plan's changes differ from the plan JSON given", source=str(binary))


def _changes(plan: dict) -> str:
    return json.dumps(plan.get("resource_changes") or [], sort_keys=True)


def http_app(server: MCPServer, token: str):
    """Streamable HTTP at /mcp, only for clients that send ``Authorization: Bearer TOKEN``."""
    app = server.streamable_http_app(host="127.0.0.1")
    expected = f"Bearer {token}".encode()

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await JSONResponse({"error": "missing or invalid bearer token"}, status_code=401)(scope, receive, send)
                return
        await app(scope, receive, send)
    return guarded


def serve(guard: Guard, runner: Runner, http_port: int | None = None, http_token: str | None = None) -> None:
    server = build_server(guard, runner)
    if http_port is None:
        server.run("stdio")
        return
    if not http_token:
        raise ValueError("streamable HTTP needs a bearer token")
    import uvicorn
    uvicorn.run(http_app(server, http_token), host="127.0.0.1", port=http_port, log_level="warning")
