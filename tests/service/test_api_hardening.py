"""The HTTP API at its edge, against a real `blastwall serve`: bodies counted as they arrive (chunked
ones too), FastAPI's and Starlette's own errors in the one error shape, lone UTF-16 surrogates refused
at the door, and one Authorization header per request."""
import json
import signal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.conftest import auth, token
from tests.service.procs import Service

ROUTINE = {"intent": "pick up config", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}
# every POST route taking a JSON object, with someone allowed to call it (the body is all that is wrong)
POST_ROUTES = [("/v1/proposals", "kiro-ops-7"), ("/v1/approvals/req_x/reviews", "bob"),
               ("/v1/grants/grant_x/redeem", "kiro-ops-7"), ("/v1/kill-switch", "bob"),
               ("/v1/proposals/prop_x/executions", "kiro-ops-7")]
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hardening")
    svc = Service(tmp, f"sqlite:///{tmp / 'bw.db'}").wait_ready()
    yield svc
    svc.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def http(service):
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def error(res: httpx.Response, status: int, field: str | None = None, code: str | None = None) -> dict:
    """The answer is ``status`` in the one error shape (naming ``field``); its error."""
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"] and isinstance(err["message"], str) and err["message"]
    assert err["field"] == field, err
    if code:
        assert err["code"] == code, err
    return err


def audit_count(http) -> int:
    return len(http.get("/v1/audit", params={"limit": 10000}, headers=auth("root")).json())


def switches(http) -> dict:
    return http.get("/v1/kill-switch", headers=auth("root")).json()


# ---- 1. a chunked body (no Content-Length) is counted as it arrives ---------------------------------

def chunked(total: int, head: bytes = b'{"reason":"', tail: bytes = b'"}', piece: int = 64 << 10):
    yield head
    for _ in range(total // piece):
        yield b"a" * piece
    yield tail


@pytest.mark.parametrize("path, who", POST_ROUTES)
@pytest.mark.parametrize("with_token", [True, False])
def test_a_chunked_body_over_the_limit_is_413_on_every_post_route(http, path, who, with_token):
    res = http.post(path, content=chunked(3 << 20), headers={**JSON, **(auth(who) if with_token else {})})
    assert "content-length" not in {k.lower() for k in res.request.headers}      # it was sent chunked
    assert res.request.headers.get("transfer-encoding") == "chunked"
    error(res, 413, code="too_large", field="body")
    assert http.get("/healthz").status_code == 200


def test_a_declared_body_over_the_limit_is_413_on_a_fastapi_route(http):
    res = http.post("/v1/kill-switch", content=b'{"reason":"' + b"a" * (2 << 20) + b'"}',
                    headers={**JSON, **auth("bob")})
    error(res, 413, code="too_large", field="body")


def test_a_chunked_body_under_the_limit_is_read_as_usual(http):
    body = json.dumps({"scope": "agent:coder-1", "engaged": True, "reason": "x" * 200_000}).encode()
    res = http.post("/v1/kill-switch", content=iter([body[:1000], body[1000:]]), headers={**JSON, **auth("bob")})
    assert res.status_code == 200 and res.json()["engaged"] is True, res.text
    assert switches(http)["agent:coder-1"]["engaged"] is True
    off = json.dumps({"scope": "agent:coder-1", "engaged": False, "reason": "over"}).encode()
    assert http.post("/v1/kill-switch", content=iter([off]), headers={**JSON, **auth("bob")}).status_code == 200
    doc = json.dumps(ROUTINE).encode()
    res = http.post("/v1/proposals", content=iter([doc[:7], doc[7:]]), headers={**JSON, **auth("kiro-ops-7")})
    assert res.status_code == 200 and res.json()["decision"]["effect"] == "allow", res.text


# ---- 2. FastAPI's and Starlette's errors in the one error shape ---------------------------------------

@pytest.mark.parametrize("method, path, kwargs, status, field, code", [
    ("POST", "/v1/approvals/req_x/reviews", {"json": [1], "headers": auth("bob")}, 400, "body", "bad_request"),
    ("POST", "/v1/approvals/req_x/reviews", {"content": b"{", "headers": {**JSON, **auth("bob")}}, 400, "body",
     "bad_request"),
    ("POST", "/v1/approvals/req_x/reviews", {}, 400, "body", "bad_request"),                   # no body, no token
    ("POST", "/v1/approvals/req_x/reviews", {"headers": auth("bob")}, 400, "body", "bad_request"),  # no body
    ("POST", "/v1/grants/grant_x/redeem", {"json": [], "headers": auth("kiro-ops-7")}, 400, "body", "bad_request"),
    ("POST", "/v1/grants/grant_x/redeem", {"content": b"", "headers": auth("kiro-ops-7")}, 400, "body",
     "bad_request"),
    ("POST", "/v1/kill-switch", {"json": "x", "headers": auth("bob")}, 400, "body", "bad_request"),
    ("POST", "/v1/kill-switch", {"content": b"{\"scope\": NaN}", "headers": {**JSON, **auth("bob")}}, 400, "body",
     "bad_request"),
    ("POST", "/v1/proposals/prop_x/executions", {"json": [], "headers": auth("kiro-ops-7")}, 400, "body",
     "bad_request"),
    ("POST", "/v1/proposals", {"json": [], "headers": auth("kiro-ops-7")}, 400, "body", "bad_request"),
    ("GET", "/v1/proposals?limit=5000", {"headers": auth("root")}, 400, "limit", "bad_request"),
    ("GET", "/v1/approvals?limit=abc", {"headers": auth("root")}, 400, "limit", "bad_request"),
    ("GET", "/v1/audit?after=abc", {"headers": auth("root")}, 400, "after", "bad_request"),
    ("GET", "/v1/audit?after=0&limit=5", {"headers": auth("root")}, 200, None, None),          # a control
    ("GET", "/v1/nope", {}, 404, None, "not_found"),
    ("POST", "/v1/nope", {"json": {}}, 404, None, "not_found"),
    ("DELETE", "/v1/proposals", {"headers": auth("root")}, 405, None, "method_not_allowed"),
    ("PUT", "/v1/kill-switch", {"json": {}, "headers": auth("bob")}, 405, None, "method_not_allowed"),
    ("GET", "/v1/grants/grant_x/redeem", {"headers": auth("root")}, 405, None, "method_not_allowed"),
])
def test_every_error_is_in_the_one_shape_naming_the_field(http, method, path, kwargs, status, field, code):
    res = http.request(method, path, **kwargs)
    if status == 200:
        assert res.status_code == 200, res.text
        return
    err = error(res, status, field, code)
    if field and field != "body":
        assert err["message"].startswith(f"{field}: "), err
    assert "detail" not in res.text


def test_a_wrong_method_answer_names_every_method_the_path_takes(http):
    res = http.request("PATCH", "/v1/kill-switch", headers=auth("bob"))
    err = error(res, 405, None, "method_not_allowed")
    assert res.headers["allow"] == "GET, POST" and "GET, POST" in err["message"]


def test_the_non_object_and_non_json_messages_say_what_is_wrong(http):
    err = error(http.post("/v1/kill-switch", json=[1], headers=auth("bob")), 400, "body")
    assert err["message"] == "the body must be a JSON object"
    err = error(http.post("/v1/kill-switch", content=b"{", headers={**JSON, **auth("bob")}), 400, "body")
    assert err["message"].startswith("the body is not JSON")


def test_the_openapi_document_describes_the_bodies_and_the_error_shape(http):
    doc = http.get("/openapi.json").json()
    for path, _ in POST_ROUTES:
        template = path.replace("req_x", "{rid}").replace("grant_x", "{gid}").replace("prop_x", "{pid}")
        body = doc["paths"][template]["post"]["requestBody"]
        assert body["required"] is True and body["content"]["application/json"]["schema"]["type"] == "object"
    review = doc["paths"]["/v1/approvals/{rid}/reviews"]["post"]["requestBody"]["content"]["application/json"]
    assert review["schema"]["properties"]["verdict"]["enum"] == ["approve", "deny"]
    kill = doc["paths"]["/v1/kill-switch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert kill["properties"]["engaged"]["type"] == "boolean"
    assert '"422"' not in json.dumps(doc) and "HTTPValidationError" not in json.dumps(doc)
    assert doc["paths"]["/v1/audit"]["get"]["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert doc["components"]["schemas"]["Error"]["properties"]["error"]["required"] == ["code", "message", "field"]


JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
NOT_OBJECTS = JSON_VALUES.filter(lambda value: not isinstance(value, dict))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(POST_ROUTES), value=NOT_OBJECTS)
def test_any_json_that_is_not_an_object_is_a_400_naming_the_body(http, route, value):
    path, who = route
    res = http.post(path, content=json.dumps(value).encode(), headers={**JSON, **auth(who)})
    error(res, 400, "body", "bad_request")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=st.sampled_from(POST_ROUTES), raw=st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
def test_any_bytes_without_a_token_are_a_4xx_in_the_one_shape(http, route, raw):
    res = http.post(route[0], content=raw, headers=JSON)
    assert 400 <= res.status_code < 500, res.text
    error(res, res.status_code, res.json()["error"]["field"])


# ---- 3. lone UTF-16 surrogates anywhere in a body are refused before the store sees them ----------------

@pytest.mark.parametrize("path, who, raw", [
    ("/v1/kill-switch", "bob", rb'{"scope":"global","engaged":true,"reason":"db on fire \ud83d"}'),
    ("/v1/kill-switch", "bob", rb'{"scope":"env:\ud800","engaged":true,"reason":"x"}'),
    ("/v1/approvals/req_x/reviews", "alice", rb'{"verdict":"approve","reason":"\udc00"}'),
    ("/v1/proposals/prop_x/executions", "kiro-ops-7", rb'{"status":"failed","log":{"lines":["ok","\ud800"]}}'),
    ("/v1/grants/grant_x/redeem", "kiro-ops-7", rb'{"proposal":{"intent":"x","argv":["kubectl","\udfff"]}}'),
    ("/v1/proposals", "kiro-ops-7", rb'{"intent":"\ud800","operations":[{"verb":"read","target":"x"}]}'),
    ("/v1/proposals", "kiro-ops-7", rb'{"operations":[{"verb":"read","target":"db/\ud800"}]}'),
])
def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_and_records_nothing(http, path, who, raw):
    before, switched = audit_count(http), switches(http)
    err = error(http.post(path, content=raw, headers={**JSON, **auth(who)}), 400, "body", "bad_request")
    assert "surrogate" in err["message"] and "not JSON" in err["message"]
    assert audit_count(http) == before and switches(http) == switched


def test_after_a_surrogate_refusal_the_kill_switch_still_engages_with_a_proper_body(http):
    bad = rb'{"scope":"global","engaged":true,"reason":"db on fire \ud83d"}'
    error(http.post("/v1/kill-switch", content=bad, headers={**JSON, **auth("bob")}), 400, "body")
    good = rb'{"scope":"global","engaged":true,"reason":"db on fire \ud83d\udd25"}'      # a proper pair: kept
    res = http.post("/v1/kill-switch", content=good, headers={**JSON, **auth("bob")})
    assert res.status_code == 200 and res.json()["engaged"] is True, res.text
    state = switches(http)["global"]
    assert state["engaged"] is True and state["reason"] == "db on fire \U0001f525"
    assert http.post("/v1/proposals", json=ROUTINE, headers=auth("kiro-ops-7")).json()["decision"]["effect"] == "deny"
    off = http.post("/v1/kill-switch", json={"scope": "global", "engaged": False, "reason": "out"}, headers=auth("bob"))
    assert off.status_code == 200 and switches(http)["global"]["engaged"] is False


# ---- 4. one Authorization header -------------------------------------------------------------------------

def two_tokens(first: str, second: str) -> list:
    return [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]


@pytest.mark.parametrize("order", ["good first", "bad first"])
def test_two_authorization_headers_are_refused_on_the_fast_path(http, order):
    pair = (token("kiro-ops-7"), "nope") if order == "good first" else ("nope", token("kiro-ops-7"))
    before = len(http.get("/v1/proposals", params={"limit": 1000}, headers=auth("root")).json())
    res = http.post("/v1/proposals", json=ROUTINE, headers=[*two_tokens(*pair), ("content-type", "application/json")])
    err = error(res, 400, "authorization", "bad_request")
    assert "one Authorization header" in err["message"]
    assert len(http.get("/v1/proposals", params={"limit": 1000}, headers=auth("root")).json()) == before


@pytest.mark.parametrize("order", ["good first", "bad first"])
def test_two_authorization_headers_are_refused_on_fastapi_routes(http, order):
    pair = (token("bob"), "nope") if order == "good first" else ("nope", token("bob"))
    body = {"scope": "agent:coder-1", "engaged": True, "reason": "which token?"}
    res = http.post("/v1/kill-switch", json=body, headers=two_tokens(*pair))
    error(res, 400, "authorization", "bad_request")
    assert switches(http).get("agent:coder-1", {}).get("reason") != "which token?"
    error(http.get("/v1/audit", headers=two_tokens(token("root"), token("root"))), 400, "authorization")
    error(http.get("/v1/nope", headers=two_tokens(token("root"), "nope")), 400, "authorization")
