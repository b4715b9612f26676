"""HTTP API over the Gateway (FastAPI). One error shape: {"error": {code, message, field}}."""
from __future__ import annotations

from http import HTTPStatus
from urllib.parse import parse_qs

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from blastwall.audit.checkpoint import Checkpoint
from blastwall.errors import BlastwallError
from blastwall.service.errors import BadRequest, BodyTooLarge, Forbidden, NotFound
from blastwall.service.gateway import Gateway
from blastwall.store.base import StoreError, request_as_of

MAX_BODY = 1 << 20


def _documented_body(schema: dict) -> dict:
    """``openapi_extra`` documenting a JSON-object body that the route reads itself (not through FastAPI)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object",
                                                                                          **schema}}}}}


# POST /v1/proposals reads its body itself (the hot path); this documents it in the OpenAPI file
PROPOSAL_BODY = _documented_body({"description": "A proposal (contract section 2): intent, and operations, argv, "
                                                 "command or terraform_plan; agent and operator come from the token."})
# the other POST routes read theirs with _object_body (orjson, counted against MAX_BODY); documented here
REVIEW_BODY = _documented_body({"required": ["verdict"], "properties": {
    "verdict": {"type": "string", "enum": ["approve", "deny"]}, "reason": {"type": "string", "default": ""}}})
REDEEM_BODY = _documented_body({"required": ["proposal"], "properties": {
    "proposal": {"type": "object", "description": "the exact proposal that was approved, as it will run"}}})
KILL_SWITCH_BODY = _documented_body({"properties": {
    "scope": {"type": "string", "default": "global", "description": "global, agent:NAME or env:NAME"},
    "engaged": {"type": "boolean", "default": True}, "reason": {"type": "string", "default": ""}}})
EXECUTION_BODY = _documented_body({"description": "The outcome of running the change (any JSON object), "
                                                  "recorded in the audit log as given."})


def create_app(gateway: Gateway) -> "ProposalFastPath":
    app = FastAPI(title="blastwall", version="1", description="Change control between AI agents and infrastructure.")
    app.state.gateway = gateway
    _errors(app)
    _routes(app, gateway)
    _document_errors(app)
    return ProposalFastPath(app, gateway)


class ProposalFastPath:
    """The FastAPI app, with POST /v1/proposals (the decision hot path) answered before FastAPI's
    middleware, routing and parameter machinery: the same checks, answers and errors, ~0.1 ms
    less a decision.  The FastAPI route stays, documenting it.  Other attributes are the app's.

    Every HTTP request, the hot path's and FastAPI's alike, first passes ``_guarded``: at most one
    Authorization header, and a body counted against MAX_BODY as it arrives."""

    def __init__(self, api: FastAPI, gateway: Gateway) -> None:
        self.api, self.gateway = api, gateway

    def __getattr__(self, name: str):
        return getattr(self.api, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":                   # lifespan
            await self.api(scope, receive, send)
            return
        try:
            receive = _guarded(scope, receive)
        except BlastwallError as exc:
            await _blastwall_error(exc)(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"] == "/v1/proposals":
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
            headers = dict(scope["headers"])         # one Authorization header at most: _guarded saw to it
            body = await _read_body(receive)
            token = _token(headers.get(b"authorization", b"").decode("latin-1") or None)
            agent = await self.gateway.authenticate_async(token, "propose")
            result = await self.gateway.propose_async(agent, _json_object(body), emergency=_emergency(scope))
            return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)
        except BlastwallError as exc:
            return _blastwall_error(exc)
        except Exception as exc:  # noqa: BLE001  fail closed, in the one error shape
            return _internal(exc)


def _internal(exc: Exception) -> JSONResponse:
    """An unexpected failure: this answer allows nothing (whether the proposal was recorded is unknown)."""
    return _error(500, "internal", f"{type(exc).__name__}: internal error; this answer allows nothing")


def _guarded(scope, receive):
    """The checks every HTTP request passes before anything reads it, and the ``receive`` to read it with.

    Two Authorization headers are refused: readers disagree on which one counts (the last, in a dict of
    the headers; the first, in FastAPI's).  A declared Content-Length over MAX_BODY is refused at once,
    and the body is counted as it arrives, so a chunked one (no Content-Length) is refused too, with
    BodyTooLarge from the ``receive`` once it passes MAX_BODY, before it is all in memory."""
    declared = None
    authorizations = 0
    for name, value in scope["headers"]:
        name = name.lower()
        if name == b"authorization":
            authorizations += 1
        elif name == b"content-length":
            declared = value
    if authorizations > 1:
        raise BadRequest("send one Authorization header, not several", field="authorization")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise BodyTooLarge(MAX_BODY)
    return _counted(receive)


def _counted(receive):
    """``receive``, raising BodyTooLarge as soon as the body read through it passes MAX_BODY."""
    size = 0

    async def counted():
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > MAX_BODY:
                raise BodyTooLarge(MAX_BODY)
        return message
    return counted


async def _read_body(receive) -> bytes:
    """The whole body, from a ``receive`` made by _guarded (so never more than MAX_BODY of it)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BlastwallError("the client went away")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _object_body(request: Request) -> dict:
    """The JSON object body of a POST route, read here rather than by FastAPI: counted against MAX_BODY
    as it arrives, and parsed by orjson, which refuses what the store could not keep (lone UTF-16
    surrogates, NaN) anywhere in the document."""
    return _json_object(await _read_body(request.receive))


def _emergency(scope) -> bool:
    if not scope.get("query_string"):
        return False
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("emergency", ["false"])
    flag = values[-1].lower()
    if flag not in TRUE | FALSE:
        raise BlastwallError("emergency must be true or false", field="emergency")
    return flag in TRUE


TRUE, FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})


def _errors(app: FastAPI) -> None:
    """FastAPI's and Starlette's own errors, too, in the one error shape."""
    @app.exception_handler(BlastwallError)
    async def blastwall_error(request: Request, exc: BlastwallError):
        return _blastwall_error(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return _invalid_request(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _http_error(request, exc)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception):
        return _internal(exc)


def _blastwall_error(exc: BlastwallError) -> JSONResponse:
    status = 503 if isinstance(exc, StoreError) else getattr(exc, "status", 400)
    return _error(status, exc.code, exc.message, exc.field)


def _error(status: int, code: str, message: str, field: str | None = None,
           headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status,
                        headers=headers)


def _invalid_request(exc: RequestValidationError) -> JSONResponse:
    """A query, path or header parameter FastAPI could not take (``?limit=abc``): 400, naming it."""
    errors = exc.errors() or [{}]
    message = "; ".join(f"{_field(e.get('loc', ())) or 'request'}: {e.get('msg', 'invalid')}" for e in errors)
    return _error(400, BadRequest.code, message, _field(errors[0].get("loc", ())))


def _field(loc) -> str | None:
    """('query', 'limit') -> 'limit'; ('body',) -> 'body'."""
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in ("query", "path", "header", "cookie", "body"):
        parts = parts[1:]
    return ".".join(parts) or None


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's answers (no such route, a method the route does not take), its status kept."""
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "HTTP error"
    code = phrase.lower().replace(" ", "_").replace("-", "_").replace("'", "")
    method, path, headers = request.method, request.url.path, exc.headers
    if status == 404 and exc.detail == phrase:
        message = f"no such route: {method} {path}"
    elif status == 405 and exc.detail == phrase:
        allowed = _allowed_methods(request)           # Starlette's Allow names the first route's only
        headers = {**(headers or {}), "Allow": ", ".join(allowed)} if allowed else headers
        message = f"{path} does not take {method}" + (f"; it takes {', '.join(allowed)}" if allowed else "")
    else:
        message = str(exc.detail)
    return _error(status, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The methods of every route at the request's path (GET and POST /v1/kill-switch are two routes)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return sorted(methods)


ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "field"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "the parameter or body field at fault, if one"}}}}}


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document as answered: bad parameters are a 400 in the one error shape, not FastAPI's
    422 ``{"detail": [...]}``."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = generate()                          # caches it in app.openapi_schema; amended in place
            for operations in doc.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if responses.pop("422", None) is not None:
                        responses.setdefault("400", {"description": "Bad input (the error names the field)",
                                                     "content": {"application/json": {"schema": {
                                                         "$ref": "#/components/schemas/Error"}}}})
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            schemas["Error"] = ERROR_SCHEMA
        return app.openapi_schema
    app.openapi = openapi


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
        body = gw.metrics.render(gw.store.count_pending(gw.clock()), gw.store.kill_switches())
        return Response(body, media_type="text/plain; version=0.0.4")

    @app.post("/v1/proposals", openapi_extra=PROPOSAL_BODY)
    async def propose(emergency: bool = Query(False), authorization: str | None = Header(None)) -> Response:
        """Decide, record (durably, with its audit records) and return the decision."""
        raise RuntimeError("POST /v1/proposals is answered by ProposalFastPath; this route documents it")

    @app.get("/v1/proposals")
    def proposals(status: str | None = None, agent: str | None = None, limit: int = Query(100, ge=1, le=1000),
                  authorization: str | None = Header(None)) -> list:
        """Humans read every agent's proposals; an agent reads its own."""
        reader = who(authorization, "list proposals")
        agent = _own_only(reader, agent)
        return [_jsonable(p) for p in gw.store.list_proposals(status=status, agent=agent, limit=limit)]

    @app.get("/v1/proposals/{pid}")
    def proposal(pid: str, authorization: str | None = Header(None)) -> dict:
        reader = who(authorization, "get proposal")
        return _jsonable(_readable(reader, gw.store.read(lambda tx: tx.get_proposal(pid)), pid))

    @app.post("/v1/proposals/{pid}/executions", openapi_extra=EXECUTION_BODY)
    def execution(pid: str, body: dict = Depends(_object_body), authorization: str | None = Header(None)) -> dict:
        return gw.report_execution(who(authorization, "report execution"), pid, body)

    @app.get("/v1/approvals")
    def approvals(state: str | None = "pending", limit: int = Query(100, ge=1, le=1000),
                  authorization: str | None = Header(None)) -> list:
        """Humans read every request; an agent reads those of its own proposals."""
        reader = who(authorization, "list approvals")
        agent = None if reader.is_human else reader.name
        return [_jsonable(r) for r in gw.store.list_requests(state=state, limit=limit, agent=agent, now=gw.clock())]

    @app.get("/v1/approvals/{rid}")
    def approval(rid: str, authorization: str | None = Header(None)) -> dict:
        reader = who(authorization, "get approval")

        def read(tx):
            req = request_as_of(_found(tx.get_request(rid), rid), gw.clock())
            prop = _readable(reader, tx.get_proposal(req["proposal_id"]), rid)
            grant = tx.grant_for_request(rid)
            return {**req, "proposal": prop, "reviews": tx.reviews(rid),
                    "grant": {k: grant[k] for k in ("id", "expires_at", "redeemed_at", "void_reason")} if grant else None}
        return _jsonable(gw.store.read(read))

    @app.post("/v1/approvals/{rid}/reviews", openapi_extra=REVIEW_BODY)
    def review(rid: str, body: dict = Depends(_object_body), authorization: str | None = Header(None)) -> dict:
        return gw.review(who(authorization, "review"), rid, body.get("verdict"), body.get("reason", ""))

    @app.post("/v1/grants/{gid}/redeem", openapi_extra=REDEEM_BODY)
    def redeem(gid: str, body: dict = Depends(_object_body), authorization: str | None = Header(None)) -> dict:
        return gw.redeem(who(authorization, "redeem"), gid, body.get("proposal"))

    @app.get("/v1/kill-switch")
    def kill_switch_state(authorization: str | None = Header(None)) -> dict:
        who(authorization, "kill switch state")
        return _jsonable(gw.store.kill_switches())

    @app.post("/v1/kill-switch", openapi_extra=KILL_SWITCH_BODY)
    def kill_switch(body: dict = Depends(_object_body), authorization: str | None = Header(None)) -> dict:
        # as sent: the gateway checks their types (engaged must be a JSON boolean)
        return gw.set_kill_switch(who(authorization, "kill switch"), body.get("scope", "global"),
                                  body.get("engaged", True), body.get("reason", ""))

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
        _human(who(authorization, "read checkpoints"))
        latest = gw.store.latest_checkpoint()
        if latest is None:
            raise NotFound("no checkpoint yet (blastwall serve --checkpoint-key FILE signs them)")
        return PlainTextResponse(Checkpoint.from_dict(latest).to_text())

    @app.get("/v1/audit")
    def audit(after: int = 0, limit: int = Query(100, ge=1, le=10000),
              authorization: str | None = Header(None)) -> list:
        _human(who(authorization, "read audit"))
        return [_jsonable(vars(r)) for r in gw.store.audit_records(after_seq=after, limit=limit)]


def _json_object(raw: bytes) -> dict:
    """A request body (every POST route's is a JSON object), parsed by orjson: it refuses lone UTF-16
    surrogates, which the store cannot encode, anywhere in the document, and NaN and Infinity."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object", field="body")
    return doc


def _own_only(reader, agent: str | None) -> str | None:
    """The agent filter a reader may use: any for a human; an agent's own name for an agent."""
    if reader.is_human:
        return agent
    if agent not in (None, reader.name):
        raise Forbidden(f"{reader.name} reads its own proposals only")
    return reader.name


def _readable(reader, proposal: dict | None, ident: str) -> dict:
    """A proposal (or what hangs on it) a reader may see: any for a human, its own for an agent;
    another agent's is answered as missing, so ids of others' records tell nothing."""
    if proposal is None or not (reader.is_human or proposal["agent"] == reader.name):
        raise NotFound(f"no such id {ident}")
    return proposal


def _human(reader) -> None:
    if not reader.is_human:
        raise Forbidden(f"{reader.name} is an agent: the audit log is for humans (agents read their own "
                        "proposals and approval requests)")


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
