"""HTTP API over the Gateway (FastAPI). One error shape: {"error": {code, message, field}}."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from blastwall.audit.checkpoint import Checkpoint
from blastwall.errors import BlastwallError
from blastwall.service.errors import BodyTooLarge, Forbidden, NotFound
from blastwall.service.gateway import Gateway
from blastwall.store.base import StoreError

MAX_BODY = 1 << 20
# POST /v1/proposals reads its body itself (the hot path); this documents it in the OpenAPI file
PROPOSAL_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "A proposal (contract section 2): intent, and operations, argv, command "
                                     "or terraform_plan; agent and operator come from the token."}}}}}


def create_app(gateway: Gateway) -> "ProposalFastPath":
    app = FastAPI(title="blastwall", version="1", description="Change control between AI agents and infrastructure.")
    app.state.gateway = gateway
    _errors(app)
    _routes(app, gateway)
    return ProposalFastPath(app, gateway)


class ProposalFastPath:
    """The FastAPI app, with POST /v1/proposals (the decision hot path) answered before FastAPI's
    middleware, routing and parameter machinery: the same checks, answers and errors, ~0.1 ms
    less a decision.  The FastAPI route stays, documenting it.  Other attributes are the app's."""

    def __init__(self, api: FastAPI, gateway: Gateway) -> None:
        self.api, self.gateway = api, gateway

    def __getattr__(self, name: str):
        return getattr(self.api, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/proposals":
            response = await self._propose(scope, receive)
            if isinstance(response, bytes):          # the usual answer, sent without a Response object
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-length", str(len(response)).encode()), (b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": response})
            else:
                await response(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _propose(self, scope, receive) -> Response | bytes:
        try:
            headers = dict(scope["headers"])
            body = await _read_body(receive, headers)
            token = _token(headers.get(b"authorization", b"").decode("latin-1") or None)
            agent = await self.gateway.authenticate_async(token, "propose")
            result = await self.gateway.propose_async(agent, _json_body(body), emergency=_emergency(scope))
            return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)
        except BlastwallError as exc:
            return _blastwall_error(exc)
        except Exception as exc:  # noqa: BLE001  fail closed, in the one error shape
            return _internal(exc)


def _internal(exc: Exception) -> JSONResponse:
    """An unexpected failure: this answer allows nothing (whether the proposal was recorded is unknown)."""
    return _error(500, "internal", f"{type(exc).__name__}: internal error; this answer allows nothing")


def _check_declared_size(headers: dict) -> None:
    declared = headers.get(b"content-length")
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BodyTooLarge(MAX_BODY)


async def _read_body(receive, headers: dict) -> bytes:
    _check_declared_size(headers)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BlastwallError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge(MAX_BODY)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _emergency(scope) -> bool:
    if not scope.get("query_string"):
        return False
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("emergency", ["false"])
    flag = values[-1].lower()
    if flag not in TRUE | FALSE:
        raise BlastwallError("emergency must be true or false", field="emergency")
    return flag in TRUE


TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


class BodyLimit:
    """Refuse a declared body over MAX_BODY (plain ASGI: no per-request task, unlike @app.middleware)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            try:
                _check_declared_size(dict(scope["headers"]))
            except BodyTooLarge as exc:
                await _blastwall_error(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _errors(app: FastAPI) -> None:
    app.add_middleware(BodyLimit)

    @app.exception_handler(BlastwallError)
    async def blastwall_error(request: Request, exc: BlastwallError):
        return _blastwall_error(exc)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        return _internal(exc)


def _blastwall_error(exc: BlastwallError) -> JSONResponse:
    status = 503 if isinstance(exc, StoreError) else getattr(exc, "status", 400)
    return _error(status, exc.code, exc.message, exc.field)


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)


def _token(authorization: str | None) -> str | None:
    if authorization and authorization.startswith("Bearer "):
        return authorization[7:].strip()
    return None


def _routes(app: FastAPI, gw: Gateway) -> None:  # noqa: C901  one place for every route
    def who(authorization: str | None, what: str):
        return gw.authenticate(_token(authorization), what)

    @app.get("/healthz")
    def healthz() -> dict:
        gw.store.audit_head()                         # the store answers, or this raises (503)
        return {"status": "ok", **gw.revisions()}

    @app.get("/metrics")
    def metrics() -> Response:
        body = gw.metrics.render(len(gw.store.list_requests(state="pending", limit=100000)), gw.store.kill_switches())
        return Response(body, media_type="text/plain; version=0.0.4")

    @app.post("/v1/proposals", openapi_extra=PROPOSAL_BODY)
    async def propose(emergency: bool = Query(False), authorization: str | None = Header(None)) -> Response:
        """Decide, record (durably, with its audit records) and return the decision."""
        raise RuntimeError("POST /v1/proposals is answered by ProposalFastPath; this route documents it")

    @app.get("/v1/proposals")
    def proposals(status: str | None = None, agent: str | None = None, limit: int = Query(100, le=1000),
                  authorization: str | None = Header(None)) -> list:
        who(authorization, "list proposals")
        return [_jsonable(p) for p in gw.store.list_proposals(status=status, agent=agent, limit=limit)]

    @app.get("/v1/proposals/{pid}")
    def proposal(pid: str, authorization: str | None = Header(None)) -> dict:
        who(authorization, "get proposal")
        return _jsonable(_found(gw.store.read(lambda tx: tx.get_proposal(pid)), pid))

    @app.post("/v1/proposals/{pid}/executions")
    def execution(pid: str, body: dict = Body(...), authorization: str | None = Header(None)) -> dict:
        return gw.report_execution(who(authorization, "report execution"), pid, body)

    @app.get("/v1/approvals")
    def approvals(state: str | None = "pending", limit: int = Query(100, le=1000),
                  authorization: str | None = Header(None)) -> list:
        who(authorization, "list approvals")
        return [_jsonable(r) for r in gw.store.list_requests(state=state, limit=limit)]

    @app.get("/v1/approvals/{rid}")
    def approval(rid: str, authorization: str | None = Header(None)) -> dict:
        who(authorization, "get approval")

        def read(tx):
            req = _found(tx.get_request(rid), rid)
            grant = tx.grant_for_request(rid)
            return {**req, "proposal": tx.get_proposal(req["proposal_id"]), "reviews": tx.reviews(rid),
                    "grant": {k: grant[k] for k in ("id", "expires_at", "redeemed_at", "void_reason")} if grant else None}
        return _jsonable(gw.store.read(read))

    @app.post("/v1/approvals/{rid}/reviews")
    def review(rid: str, body: dict = Body(...), authorization: str | None = Header(None)) -> dict:
        return gw.review(who(authorization, "review"), rid, str(body.get("verdict")), str(body.get("reason", "")))

    @app.post("/v1/grants/{gid}/redeem")
    def redeem(gid: str, body: dict = Body(...), authorization: str | None = Header(None)) -> dict:
        return gw.redeem(who(authorization, "redeem"), gid, body.get("proposal"))

    @app.get("/v1/kill-switch")
    def kill_switch_state(authorization: str | None = Header(None)) -> dict:
        who(authorization, "kill switch state")
        return _jsonable(gw.store.kill_switches())

    @app.post("/v1/kill-switch")
    def kill_switch(body: dict = Body(...), authorization: str | None = Header(None)) -> dict:
        return gw.set_kill_switch(who(authorization, "kill switch"), str(body.get("scope", "global")),
                                  bool(body.get("engaged", True)), str(body.get("reason", "")))

    @app.post("/v1/admin/reload")
    def reload(authorization: str | None = Header(None)) -> dict:
        admin = who(authorization, "reload")
        if "admin" not in admin.roles:
            raise Forbidden("only admins reload")
        return gw.reload(by=admin.name)

    @app.get("/v1/audit/checkpoints", response_class=PlainTextResponse)
    def latest_checkpoint(authorization: str | None = Header(None)) -> PlainTextResponse:
        """The latest signed checkpoint, as text: keep it away from the database, check it with
        `blastwall audit verify --checkpoint FILE --public-key KEY.pub`."""
        who(authorization, "read checkpoints")
        latest = gw.store.latest_checkpoint()
        if latest is None:
            raise NotFound("no checkpoint yet (blastwall serve --checkpoint-key FILE signs them)")
        return PlainTextResponse(Checkpoint.from_dict(latest).to_text())

    @app.get("/v1/audit")
    def audit(after: int = 0, limit: int = Query(100, le=10000), authorization: str | None = Header(None)) -> list:
        who(authorization, "read audit")
        return [_jsonable(vars(r)) for r in gw.store.audit_records(after_seq=after, limit=limit)]


def _json_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BlastwallError(f"the body is not JSON: {exc}") from None


def _found(row, ident: str):
    if row is None:
        raise NotFound(f"no such id {ident}")
    return row


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
