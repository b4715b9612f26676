"""blastwall.Client / AsyncClient: the service's HTTP API for agents and humans.

    client = Client("http://127.0.0.1:8470", token)
    result = client.propose({"intent": "...", "argv": ["kubectl", ...]})
    if result.effect == "approve":
        grant = client.wait_for_grant(result.approval_request_id, timeout=600)
        client.redeem(grant, result.proposal)

Errors: ``ServiceUnavailable`` (cannot reach or the store is down: fail closed),
``RequestRefused`` (4xx with the service's reason).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from blastwall.errors import BlastwallError


class RequestRefused(BlastwallError):
    code = "refused"

    def __init__(self, status: int, error: dict):
        self.status = status
        super().__init__(error.get("message", "refused"), field=error.get("field"))
        self.code = error.get("code", "refused")


class ServiceUnavailable(BlastwallError):
    code = "service_unavailable"


@dataclass(frozen=True)
class Proposed:
    proposal_id: str
    approval_request_id: str | None
    digest: str
    decision: dict
    proposal: dict = field(repr=False, default_factory=dict)

    @property
    def effect(self) -> str:
        return self.decision["effect"]

    @property
    def explanation(self) -> str:
        return self.decision["explanation"]


def _unwrap(res: httpx.Response) -> Any:
    if res.status_code >= 500:
        raise ServiceUnavailable(f"service error {res.status_code}: {_error(res).get('message', res.text[:200])}")
    if res.status_code >= 400:
        raise RequestRefused(res.status_code, _error(res))
    return res.json()


def _error(res: httpx.Response) -> dict:
    try:
        return res.json().get("error", {})
    except ValueError:
        return {}


def _grant_or_raise(request: dict, deadline: float) -> str | None:
    """The grant id of an approved request; None while it may still come; raise when it cannot."""
    if request["state"] == "approved" and request.get("grant"):
        return request["grant"]["id"]
    if request["state"] not in ("pending", "approved"):
        raise RequestRefused(409, {"code": "not_approved", "message": f"approval request is {request['state']}"})
    if time.monotonic() > deadline:
        raise RequestRefused(408, {"code": "timeout", "message": "still pending"})
    return None


def _proposed(body: dict, proposal: dict) -> Proposed:
    return Proposed(body["proposal_id"], body["approval_request_id"], body["digest"], body["decision"], proposal)


def _time_left(timeout: float, deadline: float | None) -> float:
    """Each call's timeout: ``timeout``, cut to what is left before ``deadline`` (time.monotonic)."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise ServiceUnavailable("no time left before the deadline; nothing was sent")
    return min(timeout, left)


class Client:
    def __init__(self, url: str, token: str, timeout: float = 10.0, transport: httpx.BaseTransport | None = None,
                 deadline: float | None = None):
        """``deadline``: a time.monotonic() after which no call is sent or waited for."""
        self._http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout,
                                  transport=transport)
        self._timeout, self.deadline = timeout, deadline

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw) -> Any:
        timeout = _time_left(self._timeout, self.deadline)
        try:
            return _unwrap(self._http.request(method, path, timeout=timeout, **kw))
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach blastwall: {exc}") from None

    def propose(self, proposal: dict, emergency: bool = False) -> Proposed:
        body = self._call("POST", "/v1/proposals", json=proposal, params={"emergency": str(emergency).lower()})
        return _proposed(body, proposal)

    def approval(self, request_id: str) -> dict:
        return self._call("GET", f"/v1/approvals/{request_id}")

    def review(self, request_id: str, verdict: str, reason: str = "") -> dict:
        return self._call("POST", f"/v1/approvals/{request_id}/reviews", json={"verdict": verdict, "reason": reason})

    def wait_for_grant(self, request_id: str, timeout: float = 600, poll: float = 1.0) -> str:
        """Block until the request is approved and return its grant id; raise if it ends otherwise."""
        deadline = time.monotonic() + timeout
        while (grant := _grant_or_raise(self.approval(request_id), deadline)) is None:
            time.sleep(poll)
        return grant

    def redeem(self, grant_id: str, proposal: dict) -> dict:
        return self._call("POST", f"/v1/grants/{grant_id}/redeem", json={"proposal": proposal})

    def report_execution(self, proposal_id: str, outcome: dict) -> dict:
        return self._call("POST", f"/v1/proposals/{proposal_id}/executions", json=outcome)

    def kill_switch(self, scope: str = "global", engaged: bool = True, reason: str = "") -> dict:
        return self._call("POST", "/v1/kill-switch", json={"scope": scope, "engaged": engaged, "reason": reason})


class AsyncClient:
    """The same calls, awaitable."""

    def __init__(self, url: str, token: str, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None,
                 deadline: float | None = None):
        self._http = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout,
                                       transport=transport)
        self._timeout, self.deadline = timeout, deadline

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def _call(self, method: str, path: str, **kw) -> Any:
        timeout = _time_left(self._timeout, self.deadline)
        try:
            return _unwrap(await self._http.request(method, path, timeout=timeout, **kw))
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot reach blastwall: {exc}") from None

    async def propose(self, proposal: dict, emergency: bool = False) -> Proposed:
        body = await self._call("POST", "/v1/proposals", json=proposal, params={"emergency": str(emergency).lower()})
        return _proposed(body, proposal)

    async def approval(self, request_id: str) -> dict:
        return await self._call("GET", f"/v1/approvals/{request_id}")

    async def review(self, request_id: str, verdict: str, reason: str = "") -> dict:
        return await self._call("POST", f"/v1/approvals/{request_id}/reviews", json={"verdict": verdict, "reason": reason})

    async def wait_for_grant(self, request_id: str, timeout: float = 600, poll: float = 1.0) -> str:
        deadline = time.monotonic() + timeout
        while (grant := _grant_or_raise(await self.approval(request_id), deadline)) is None:
            await asyncio.sleep(poll)
        return grant

    async def redeem(self, grant_id: str, proposal: dict) -> dict:
        return await self._call("POST", f"/v1/grants/{grant_id}/redeem", json={"proposal": proposal})

    async def report_execution(self, proposal_id: str, outcome: dict) -> dict:
        return await self._call("POST", f"/v1/proposals/{proposal_id}/executions", json=outcome)
