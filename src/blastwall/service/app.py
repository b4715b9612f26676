"""HTTP API over the Gateway (FastAPI). One error shape: {"error": {code, message, field}}."""
from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from blastwall.errors import BlastwallError
from blastwall.service.errors import Forbidden, NotFound
from blastwall.service.gateway import Gateway
from blastwall.store.base import StoreError

MAX_BODY = 1 << 20


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(title="blastwall", version="1", description="Change control between AI agents and infrastructure.")
    app.state.gateway = gateway
    _errors(app)
    _routes(app, gateway)
    return app


def _errors(app: FastAPI) -> None:
    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size and (not size.isdigit() or int(size) > MAX_BODY):
            return _error(413, "too_large", f"request body over {MAX_BODY} bytes")
        return await call_next(request)

    @app.exception_handler(BlastwallError)
    async def blastwall_error(request: Request, exc: BlastwallError):
        status = getattr(exc, "status", 400)
        if isinstance(exc, StoreError):
            status = 503
        return _error(status, exc.code, exc.message, exc.field)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        return _error(500, "internal", f"{type(exc).__name__}: nothing was allowed")


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

    @app.post("/v1/proposals")
    def propose(body: Any = Body(...), emergency: bool = Query(False),
                authorization: str | None = Header(None)) -> dict:
        return gw.propose(who(authorization, "propose"), body, emergency=emergency)

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

    @app.get("/v1/audit")
    def audit(after: int = 0, limit: int = Query(100, le=10000), authorization: str | None = Header(None)) -> list:
        who(authorization, "read audit")
        return [_jsonable(vars(r)) for r in gw.store.audit_records(after_seq=after, limit=limit)]


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
