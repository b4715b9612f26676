"""Tool results the model can act on: a sentence first, then the JSON; refusals are isError."""
from __future__ import annotations

import json

from mcp.types import CallToolResult, TextContent

from blastwall.errors import BlastwallError
from blastwall.integrations.client import RequestRefused, ServiceUnavailable
from blastwall.integrations.guard import Stop, Verdict


def result(text: str, data: dict | None = None, error: bool = False) -> CallToolResult:
    content = [TextContent(type="text", text=text)]
    if data is not None:
        content.append(TextContent(type="text", text=json.dumps(data, ensure_ascii=False)))
    return CallToolResult(content=content, structured_content=data, is_error=error)


def headline(verdict: Verdict, mode: str, retry: str) -> str:
    explanation = verdict.decision["explanation"]
    if verdict.effect == "allow":
        return f"ALLOWED by blastwall. {explanation}"
    if verdict.effect == "deny":
        return (f"DENIED by blastwall. {explanation} Nothing was run; propose a smaller change "
                "(see the safer alternative).")
    if mode != "service":
        return (f"NEEDS APPROVAL. {explanation} This gateway runs without the blastwall service, so it "
                "cannot collect approvals; nothing was run.")
    rid = verdict.approval_request_id
    return (f"NEEDS APPROVAL: approval request {rid}. {explanation} Nothing was run yet: wait with "
            f"approval_status(request_id=\"{rid}\", wait_seconds=60); once approved, {retry}.")


def verdict_result(verdict: Verdict, mode: str, retry: str) -> CallToolResult:
    """A decision as a result; anything but allow is an error the model should act on."""
    return result(headline(verdict, mode, retry), {**verdict.to_dict(), "executed": False},
                  error=verdict.effect != "allow")


def stopped(stop: Stop, mode: str, retry: str) -> CallToolResult:
    return verdict_result(stop.verdict, mode, retry)


def failure(exc: Exception) -> CallToolResult:
    """Fail closed: say what went wrong and that nothing ran."""
    if isinstance(exc, ServiceUnavailable):
        text = f"blastwall service unavailable ({exc.message}); nothing was run."
    elif isinstance(exc, RequestRefused):
        text = f"Refused by blastwall: {exc.message}. Nothing was run."
    elif isinstance(exc, BlastwallError):
        text = f"Refused: {exc}. Nothing was run."
    else:
        text = f"blastwall internal error ({type(exc).__name__}); nothing was run."
    error = {"code": getattr(exc, "code", "internal"), "message": str(exc)}
    if getattr(exc, "field", None):
        error["field"] = exc.field                # which argument to fix, e.g. arguments.force
    return result(text, {"error": error, "executed": False}, error=True)
