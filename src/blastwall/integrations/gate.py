"""An in-process gate for agent frameworks: decide before a tool function runs.

    gate = Gate(inventory="fleet.json")                       # decide locally, or
    gate = Gate(client=Client(url, token))                    # let the service decide and record

    @gate.guard(verb="delete", target="k8s:{context}:deployment:{namespace}/{name}")
    def delete_deployment(context, namespace, name="web"): ...

    delete_deployment("dev-us-east-1", "web")   # allow: runs;  deny: raises Denied
    # approve: raises ApprovalRequired (.request_id when a client is configured); once a human
    # approved, run it with the grant:  delete_deployment(..., grant=client.wait_for_grant(rid))

The guarded function's arguments (bound by name, defaults applied) fill the
mapping's templates, exactly as an MCP tool mapping (``integrations.mapping``).
Every parameter must be judged (in the template) or declared harmless with
``unjudged=["timeout"]``; anything else is refused when decorating.
With a client the service is the authority (kill switch, limits, audit); the
local engine is then not consulted.  Any failure to decide raises: the
function never runs unless the decision is allow or a grant was redeemed.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from blastwall.core.model import Decision, Effect, Operation
from blastwall.engine import Engine
from blastwall.errors import BlastwallError, InputError, ProposalError
from blastwall.integrations.client import AsyncClient, Client, RequestRefused
from blastwall.integrations.mapping import declared_arguments, parse_mapping

GRANT_KEYWORD = "grant"


class Denied(BlastwallError):
    """The change may not run; ``decision`` is None when a grant was refused at redemption."""
    code = "denied"

    def __init__(self, decision: Decision | None, message: str | None = None):
        self.decision = decision
        super().__init__(message or (decision.explanation if decision else "denied"))


class ApprovalRequired(BlastwallError):
    """The change needs human approval; with a client, ``request_id`` names the open request."""
    code = "approval_required"

    def __init__(self, decision: Decision, request_id: str | None = None, proposal_id: str | None = None,
                 proposal: dict | None = None):
        self.decision, self.request_id, self.proposal_id = decision, request_id, proposal_id
        self.proposal = proposal or {}
        where = f" Approval request: {request_id}." if request_id else ""
        super().__init__(decision.explanation + where)


@dataclass(frozen=True)
class Verdict:
    """A decision and, when the service decided, the ids it recorded."""
    decision: Decision
    proposal: dict
    proposal_id: str | None = None
    request_id: str | None = None


class Gate:
    def __init__(self, engine: Engine | None = None, *, inventory: str | Path | None = None,
                 policy: str | Path | None = None, client: Client | AsyncClient | None = None,
                 agent: str = "sdk-agent", operator: str = ""):
        if engine is None and inventory is not None:
            engine = Engine.load(inventory, policy)
        if engine is None and client is None:
            raise InputError("a Gate needs an engine, an inventory, or a client", field="engine")
        self.engine, self.client = engine, client
        self.agent, self.operator = agent, operator      # local decisions only; the service uses the token

    # ---- deciding ------------------------------------------------------------
    def check(self, proposal: Mapping[str, Any] | list, intent: str = "") -> Decision:
        return self.verdict(proposal_doc(proposal, intent)).decision

    async def acheck(self, proposal: Mapping[str, Any] | list, intent: str = "") -> Decision:
        return (await self.averdict(proposal_doc(proposal, intent))).decision

    def verdict(self, doc: dict) -> Verdict:
        if self.client is None:
            return self._local(doc)
        if isinstance(self.client, AsyncClient):
            raise InputError("this Gate has an AsyncClient: use acheck or guard an async function", field="client")
        return _from_service(self.client.propose(doc), doc)

    async def averdict(self, doc: dict) -> Verdict:
        if self.client is None:
            return self._local(doc)
        if isinstance(self.client, AsyncClient):
            return _from_service(await self.client.propose(doc), doc)
        return await asyncio.to_thread(self.verdict, doc)

    def _local(self, doc: dict) -> Verdict:
        full = {"agent": self.agent, "operator": self.operator, **doc}
        return Verdict(self.engine.decide(full), doc)

    # ---- grants ---------------------------------------------------------------
    def redeem(self, grant: str, doc: dict) -> None:
        client = self._grant_client()
        if isinstance(client, AsyncClient):
            raise InputError("this Gate has an AsyncClient: grants for sync functions need a Client", field="client")
        try:
            client.redeem(grant, doc)
        except RequestRefused as exc:
            raise Denied(None, f"grant refused: {exc.message}") from exc

    async def aredeem(self, grant: str, doc: dict) -> None:
        client = self._grant_client()
        if not isinstance(client, AsyncClient):
            return await asyncio.to_thread(self.redeem, grant, doc)
        try:
            await client.redeem(grant, doc)
        except RequestRefused as exc:
            raise Denied(None, f"grant refused: {exc.message}") from exc

    def _grant_client(self) -> Client | AsyncClient:
        if self.client is None:
            raise InputError("grants are redeemed through the service: configure the Gate with a client",
                             field=GRANT_KEYWORD)
        return self.client

    # ---- the decorator --------------------------------------------------------
    def guard(self, verb: str | None = None, target: str | None = None, selector: Mapping | None = None, *,
              mapping: Mapping[str, Any] | None = None, intent: str | None = None,
              unjudged: Sequence[str] = ()) -> Callable:
        """Guard a function: its arguments fill the mapping; it runs only when allowed."""
        spec = dict(mapping) if mapping is not None else _spec(verb, target, selector)
        if unjudged:
            spec["unjudged"] = [*spec.get("unjudged", []), *unjudged]

        def decorate(fn: Callable) -> Callable:
            to_doc = _proposer(fn, spec, intent)
            if inspect.iscoroutinefunction(fn):
                return self._async_wrapper(fn, to_doc)
            if isinstance(self.client, AsyncClient):
                raise InputError(f"{fn.__qualname__} is not async: guard it with a Gate that has a Client",
                                 field="client")
            return self._sync_wrapper(fn, to_doc)
        return decorate

    def _sync_wrapper(self, fn: Callable, to_doc: Callable) -> Callable:
        @functools.wraps(fn)
        def guarded(*args, grant: str | None = None, **kwargs):
            doc = to_doc(args, kwargs)
            if grant:
                self.redeem(grant, doc)
            else:
                enforce(self.verdict(doc))
            return fn(*args, **kwargs)
        return guarded

    def _async_wrapper(self, fn: Callable, to_doc: Callable) -> Callable:
        @functools.wraps(fn)
        async def guarded(*args, grant: str | None = None, **kwargs):
            doc = to_doc(args, kwargs)
            if grant:
                await self.aredeem(grant, doc)
            else:
                enforce(await self.averdict(doc))
            return await fn(*args, **kwargs)
        return guarded


def enforce(verdict: Verdict) -> None:
    """Return on allow; raise Denied or ApprovalRequired otherwise."""
    decision = verdict.decision
    if decision.effect is Effect.ALLOW:
        return
    if decision.effect is Effect.APPROVE:
        raise ApprovalRequired(decision, verdict.request_id, verdict.proposal_id, verdict.proposal)
    raise Denied(decision)


def proposal_doc(proposal: Mapping[str, Any] | list, intent: str = "") -> dict:
    """A proposal document from a proposal dict or a list of operations (dicts or Operations)."""
    if isinstance(proposal, (list, tuple)):
        doc: dict = {"operations": [_op_dict(op) for op in proposal]}
    elif isinstance(proposal, Mapping):
        doc = dict(proposal)
    else:
        raise ProposalError("a proposal is a dict or a list of operations")
    if intent and not doc.get("intent"):
        doc["intent"] = intent
    return doc


def _op_dict(op: Any) -> Any:
    if not isinstance(op, Operation):
        return op
    raw = {"verb": str(op.verb), "target": op.target, "selector": dict(op.selector) if op.selector else None,
           "cost_per_month": op.cost_per_month}
    return {k: v for k, v in raw.items() if v not in (None, 0.0)}


def _spec(verb: str | None, target: str | None, selector: Mapping | None) -> dict:
    spec: dict[str, Any] = {"verb": verb}
    if target is not None:
        spec["target"] = target
    if selector is not None:
        spec["selector"] = dict(selector)
    return spec


def _proposer(fn: Callable, spec: dict, intent: str | None) -> Callable[[tuple, dict], dict]:
    """Check the spec now; return (args, kwargs) -> proposal document."""
    name = fn.__qualname__
    tool = parse_mapping({"version": 1, "tools": {name: spec}})
    signature = inspect.signature(fn)
    if GRANT_KEYWORD in signature.parameters:
        raise InputError(f"{name} has a parameter named '{GRANT_KEYWORD}', which the guard reserves",
                         field=GRANT_KEYWORD)
    _refuse_unjudged_parameters(name, signature, spec)
    stated = intent if intent is not None else f"call {name}"

    def to_doc(args: tuple, kwargs: dict) -> dict:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ProposalError(f"{name}: {exc}", field="arguments") from None
        bound.apply_defaults()
        return tool.proposal(name, _flat_arguments(bound), stated)
    return to_doc


def _refuse_unjudged_parameters(name: str, signature: inspect.Signature, spec: Mapping[str, Any]) -> None:
    """A parameter the mapping does not judge would reach the function unseen (**kwargs: checked per call)."""
    declared = {path[0] for path in declared_arguments(spec)}
    for pname, param in signature.parameters.items():
        if param.kind is not inspect.Parameter.VAR_KEYWORD and pname not in declared:
            raise InputError(f"{name}: parameter '{pname}' is not judged: reference it in the template or "
                             "list it in unjudged=[...] if it cannot change what the call touches",
                             field="unjudged")


def _flat_arguments(bound: inspect.BoundArguments) -> dict:
    """Arguments by name; a **kwargs parameter's items join them at the top level."""
    out: dict[str, Any] = {}
    for pname, value in bound.arguments.items():
        if bound.signature.parameters[pname].kind is inspect.Parameter.VAR_KEYWORD:
            out.update({k: v for k, v in value.items() if k not in bound.arguments})
        else:
            out[pname] = value
    return out


# ---- the service's decision as a Decision ------------------------------------------
def _from_service(proposed, doc: dict) -> Verdict:
    return Verdict(Decision.from_dict(proposed.decision), doc, proposed.proposal_id, proposed.approval_request_id)
