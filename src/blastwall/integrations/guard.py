"""Who decides for the MCP front doors: the in-process engine (local) or the service.

Both answer ``propose(doc) -> Verdict``.  Only the service holds approvals and
grants; ``authorize`` is the one rule every executor and the proxy follow:
run when the decision is allow, or when the service redeems a grant for exactly
this proposal; otherwise stop and say why.  ``redeem_approved`` finds that grant
for a caller that cannot pass one back (a hook retrying the identical call).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from blastwall.engine import Engine, local_files
from blastwall.errors import BlastwallError
from blastwall.integrations.client import Client, RequestRefused, ServiceUnavailable

MAX_WAIT = 300.0


class NeedsService(BlastwallError):
    code = "needs_service"


@dataclass(frozen=True)
class Verdict:
    decision: dict
    proposal_id: str | None = None
    approval_request_id: str | None = None
    digest: str | None = None

    @property
    def effect(self) -> str:
        return self.decision["effect"]

    def to_dict(self) -> dict:
        d = self.decision
        out = {"effect": d["effect"], "explanation": d["explanation"], "impact": d["impact"],
               "reasons": d["reasons"], "approval": d["approval"], "decision_id": d["decision_id"]}
        if self.proposal_id:
            out.update(proposal_id=self.proposal_id, approval_request_id=self.approval_request_id,
                       digest=self.digest)
        return out


@dataclass(frozen=True)
class Go:
    """May run; report the outcome against ``proposal_id`` (None in local mode)."""
    proposal_id: str | None
    verdict: Verdict | None = None
    grant_id: str | None = None


@dataclass(frozen=True)
class Stop:
    """May not run (yet): the verdict says why."""
    verdict: Verdict


class LocalGuard:
    mode = "local"

    def __init__(self, engine: Engine, agent: str = "mcp-agent", operator: str = ""):
        self.engine, self.agent, self.operator = engine, agent, operator

    def propose(self, doc: dict) -> Verdict:
        decision = self.engine.decide({**doc, "agent": self.agent, "operator": self.operator}, files=local_files())
        return Verdict(decision.to_dict())

    def approval(self, request_id: str, wait: float = 0) -> dict:
        raise NeedsService("approvals need the blastwall service (start with --service URL)")

    def redeem(self, grant_id: str, doc: dict) -> str:
        raise NeedsService("grants need the blastwall service (start with --service URL); nothing was run")

    def report(self, proposal_id: str | None, outcome: dict) -> None:
        pass                                                  # no audit log without the service


@dataclass
class ServiceGuard:
    client: Client
    mode: str = "service"

    def propose(self, doc: dict) -> Verdict:
        res = self.client.propose(doc)
        return Verdict(res.decision, res.proposal_id, res.approval_request_id, res.digest)

    def approval(self, request_id: str, wait: float = 0) -> dict:
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
        while True:
            req = self.client.approval(request_id)
            done = req["state"] != "pending" and (req["state"] != "approved" or req.get("grant"))
            if done or time.monotonic() >= deadline:
                return req
            time.sleep(0.25)

    def redeem(self, grant_id: str, doc: dict) -> str:
        """Redeem the grant for this exact proposal; the approved proposal's id (for the report)."""
        return self.client.redeem(grant_id, doc)["proposal_id"]

    def report(self, proposal_id: str | None, outcome: dict) -> None:
        if proposal_id:
            self.client.report_execution(proposal_id, outcome)


Guard = LocalGuard | ServiceGuard


def authorize(guard: Guard, doc: dict, grant_id: str | None = None) -> Go | Stop:
    if grant_id:
        return Go(guard.redeem(grant_id, doc), grant_id=grant_id)
    verdict = guard.propose(doc)
    if verdict.effect == "allow":
        return Go(verdict.proposal_id, verdict)
    return Stop(verdict)


# ---- a retry after approval, without the grant id -----------------------------------

@dataclass(frozen=True)
class Redeemed:
    """The approved request whose grant this call spent."""
    request_id: str
    grant_id: str
    proposal_id: str


def redeem_approved(client: Client, doc: dict, request_id: str) -> Redeemed | None:
    """Spend the live grant of ``request_id`` if it is approved, or return None.  The service answers
    a proposal asked again with the request it joined (same digest: same agent, operations and
    revisions), so a retry after approval names the approved one.  The service checks the digest
    again when redeeming, and a grant is spent once, so a second retry needs a new approval."""
    request = client.approval(request_id)
    grant = request.get("grant") or {}
    if request.get("state") != "approved" or not _live(grant):
        return None
    try:
        redeemed = client.redeem(grant["id"], doc)
    except RequestRefused:                        # spent meanwhile, voided, or refused on re-check
        return None
    except ServiceUnavailable as exc:             # sent, but no answer: it may have been spent
        raise ServiceUnavailable(f"approval request {request_id}: its grant {grant['id']} may have been spent "
                                 f"without this call running (if so, a new approval is needed): {exc}") from None
    return Redeemed(request_id, grant["id"], redeemed["proposal_id"])


def _live(grant: dict) -> bool:
    if not grant.get("id") or grant.get("redeemed_at") or grant.get("void_reason"):
        return False
    try:
        expires = datetime.fromisoformat(str(grant.get("expires_at")))
    except ValueError:
        return True                               # let the service judge it
    return expires.tzinfo is None or expires > datetime.now(timezone.utc)
