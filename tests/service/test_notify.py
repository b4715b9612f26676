"""Webhook notifications against real local HTTP receivers: formats, signatures, retries, never blocking."""
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from blastwall.errors import InputError
from blastwall.integrations.client import Client
from blastwall.service.gateway import Gateway
from blastwall.service.notify import (Notifier, NotifyConfig, Webhook, load_notify_config, parse_notify_config,
                                      verify_signature)
from blastwall.store.base import open_store
from tests.conftest import SAMPLE_FLEET
from tests.service.conftest import directory, token
from tests.service.procs import Service

NS_DELETE = {"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"]}
ROUTINE = {"intent": "pick up config", "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}
SECRET = b"s3cret-shared-with-the-receiver"
PUBLIC = "https://blastwall.example.com"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records POSTs; it can fail the first N or hang."""

    def __init__(self, fail_first: int = 0, status: int = 503, hang: bool = False):
        self.fail_first, self.status = fail_first, status
        self.release = threading.Event()
        if not hang:
            self.release.set()
        self.hits: list[dict] = []
        self.got = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.got:
                    receiver.hits.append({"at": time.monotonic(), "headers": dict(self.headers), "body": body})
                    failing = len(receiver.hits) <= receiver.fail_first
                    receiver.got.notify_all()
                receiver.release.wait(60)
                self.send_response(receiver.status if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        return Handler

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.hits) >= n, timeout), f"{len(self.hits)} of {n} arrived"
            return list(self.hits)

    def payloads(self) -> list[dict]:
        return [json.loads(h["body"]) for h in self.hits]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        made.append(Receiver(**kw))
        return made[-1]
    yield make
    for r in made:
        r.close()


@pytest.fixture
def notifiers():
    made = []

    def make(*hooks, **kw):
        made.append(Notifier(NotifyConfig(tuple(hooks), PUBLIC, **kw)))
        return made[-1]
    yield make
    for n in made:
        n.close()


@pytest.fixture
def notified_gateway(tmp_path, clock):
    stores = []

    def make(notifier):
        store = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
        store.migrate()
        stores.append(store)
        return Gateway(SAMPLE_FLEET, None, store, directory(), clock=clock, notifier=notifier)
    yield make
    for store in stores:
        store.close()


def who(gw, name):
    return gw.authenticate(token(name), "test")


def slack(r):
    return Webhook(r.url, "slack")


def signed(r):
    return Webhook(r.url, "signed", SECRET)


# ---- formats ----------------------------------------------------------------------
def test_approval_request_reaches_slack_and_signed_receivers(receivers, notifiers, notified_gateway):
    to_slack, to_signed = receivers(), receivers()
    notifier = notifiers(slack(to_slack), signed(to_signed))
    gw = notified_gateway(notifier)
    assert gw.propose(who(gw, "kiro-ops-7"), ROUTINE)["approval_request_id"] is None    # allow: no one is paged
    body = gw.propose(who(gw, "kiro-ops-7"), NS_DELETE)
    rid, pid = body["approval_request_id"], body["proposal_id"]
    assert notifier.wait_idle(10)
    [message], [event] = to_slack.payloads(), to_signed.payloads()

    assert set(message) == {"text", "blocks"} and message["blocks"][0]["type"] == "header"
    assert f"{PUBLIC}/v1/approvals/{rid}" in message["text"] and "kiro-ops-7" in message["text"]
    assert "21,000 customers" in message["text"]
    assert any(b.get("elements", [{}])[0].get("url") == f"{PUBLIC}/v1/approvals/{rid}" for b in message["blocks"])

    assert event["type"] == "approval_requested"
    assert (event["proposal_id"], event["request_id"], event["agent"], event["operator"]) == \
        (pid, rid, "kiro-ops-7", "alice")
    assert event["required"] == {"approvers": 1, "environments": ["prod"], "regions": ["cn-north-1"],
                                 "rules": ["prod-customers"]}
    assert event["summary"] == ("deletes 2 resource(s), degrades 4 more in prod across cn-north-1, serving 21,000 "
                                "customers (3.3% of the fleet)")
    assert event["link"] == f"{PUBLIC}/v1/approvals/{rid}" and event["expires_at"].startswith("2026-03-04T11:00")
    assert notifier.counts() == {"delivered": 2, "failed": 0, "retried": 0, "dropped": 0}


def test_signature_covers_body_and_timestamp(receivers, notifiers, notified_gateway):
    r = receivers()
    notifier = notifiers(signed(r))
    gw = notified_gateway(notifier)
    gw.propose(who(gw, "kiro-ops-7"), NS_DELETE)
    [hit] = r.wait_for(1)
    body, stamp, sig = hit["body"], hit["headers"]["X-Blastwall-Timestamp"], hit["headers"]["X-Blastwall-Signature"]
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", sig) and abs(int(stamp) - time.time()) < 60
    assert hit["headers"]["X-Blastwall-Event"] == "approval_requested"
    assert hit["headers"]["X-Blastwall-Delivery"] == json.loads(body)["event_id"]
    assert verify_signature(SECRET, body, stamp, sig)
    assert not verify_signature(SECRET, body.replace(b"kiro-ops-7", b"kiro-ops-8"), stamp, sig)
    assert not verify_signature(SECRET, body, str(int(stamp) + 1), sig)              # timestamp is signed
    assert not verify_signature(b"wrong", body, stamp, sig)
    assert not verify_signature(SECRET, body, stamp, sig, now=int(stamp) + 301)     # stale: replay refused
    assert not verify_signature(SECRET, body, "yesterday", sig)


def test_documented_verification_snippet_accepts_a_real_delivery(receivers, notifiers, notified_gateway):
    r = receivers()
    gw = notified_gateway(notifiers(signed(r)))
    gw.propose(who(gw, "kiro-ops-7"), NS_DELETE)
    [hit] = r.wait_for(1)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    scope: dict = {}
    exec(snippet, scope)      # noqa: S102  the documentation's own code
    headers = hit["headers"]
    assert scope["verify"](SECRET, hit["body"], headers["X-Blastwall-Timestamp"], headers["X-Blastwall-Signature"])
    assert not scope["verify"](SECRET, hit["body"] + b" ", headers["X-Blastwall-Timestamp"],
                               headers["X-Blastwall-Signature"])


def test_kill_switch_changes_are_notified_and_untrusted_text_escaped(receivers, notifiers, notified_gateway):
    to_slack, to_signed = receivers(), receivers()
    notifier = notifiers(slack(to_slack), signed(to_signed))
    gw = notified_gateway(notifier)
    bob = who(gw, "bob")
    gw.set_kill_switch(bob, "global", True, "<!channel> incident <http://evil|click>")
    gw.set_kill_switch(bob, "global", False, "resolved")
    assert notifier.wait_idle(10)
    engaged, released = to_slack.payloads()
    assert engaged["text"].startswith("Kill switch ENGAGED for global by bob")
    assert "<!channel>" not in json.dumps(engaged) and "&lt;!channel&gt;" in engaged["text"]
    assert "<http://evil" not in json.dumps(engaged)
    assert released["text"].startswith("Kill switch released")
    events = to_signed.payloads()
    assert [(e["type"], e["scope"], e["engaged"], e["by"]) for e in events] == \
        [("kill_switch", "global", True, "bob"), ("kill_switch", "global", False, "bob")]
    assert events[0]["reason"] == "<!channel> incident <http://evil|click>"      # JSON carries it verbatim


# ---- delivery -----------------------------------------------------------------------
def test_failing_receiver_gets_it_on_the_third_attempt_with_backoff(receivers, notifiers, notified_gateway):
    r = receivers(fail_first=2)
    notifier = notifiers(signed(r), backoff_seconds=0.2, attempts=5)
    gw = notified_gateway(notifier)
    gw.propose(who(gw, "kiro-ops-7"), NS_DELETE)
    hits = r.wait_for(3)
    assert notifier.wait_idle(10)
    first, second, third = hits[0]["at"], hits[1]["at"], hits[2]["at"]
    assert second - first >= 0.1 and third - second >= 0.2        # equal jitter: at least half of 0.2, 0.4
    assert len({h["headers"]["X-Blastwall-Delivery"] for h in hits}) == 1
    assert all(verify_signature(SECRET, h["body"], h["headers"]["X-Blastwall-Timestamp"],
                                h["headers"]["X-Blastwall-Signature"]) for h in hits)
    assert notifier.counts() == {"delivered": 1, "failed": 0, "retried": 2, "dropped": 0}
    assert len(r.hits) == 3


def test_attempts_are_bounded_and_client_errors_are_not_retried(receivers, notifiers, notified_gateway, caplog):
    down, rejecting = receivers(fail_first=100), receivers(fail_first=100, status=400)
    notifier = notifiers(slack(down), slack(rejecting), backoff_seconds=0.01, attempts=3)
    gw = notified_gateway(notifier)
    gw.propose(who(gw, "kiro-ops-7"), NS_DELETE)
    assert notifier.wait_idle(10)
    assert len(down.hits) == 3 and len(rejecting.hits) == 1
    assert notifier.counts() == {"delivered": 0, "failed": 2, "retried": 2, "dropped": 0}
    assert "given up" in caplog.text and "HTTP 503" in caplog.text and "HTTP 400" in caplog.text
    assert "/hook" not in caplog.text                    # the URL path (a secret for Slack) is not logged


def test_a_hanging_receiver_never_slows_decisions(receivers, notifiers, notified_gateway, clock):
    r = receivers(hang=True)
    notifier = notifiers(slack(r), timeout_seconds=30)
    gw = notified_gateway(notifier)
    agent, bob = who(gw, "kiro-ops-7"), who(gw, "bob")
    gw.propose(agent, NS_DELETE)
    r.wait_for(1)                                        # the worker is now stuck in that POST
    took = []
    for _ in range(20):
        clock.advance(hours=2)                           # the last request expired: each opens a new one
        start = time.perf_counter()
        assert gw.propose(agent, NS_DELETE)["approval_request_id"]
        took.append(time.perf_counter() - start)
    start = time.perf_counter()
    gw.set_kill_switch(bob, "agent:coder-1", True, "stuck webhook test")
    took.append(time.perf_counter() - start)
    assert max(took) < 1.0 and sum(took) < 5.0, took
    assert len(r.hits) == 1                              # still stuck on the first
    r.release.set()
    assert notifier.wait_idle(10) and len(r.hits) == 22


def test_a_full_queue_drops_the_oldest_and_counts_it(receivers, notifiers, notified_gateway):
    r = receivers(hang=True)
    notifier = notifiers(signed(r), queue_size=2, timeout_seconds=30)
    changes = []
    notifier.listen(lambda outcome: None, changes.append)
    gw = notified_gateway(notifier)
    bob = who(gw, "bob")
    scopes = ["agent:kiro-ops-7", "agent:coder-1", "env:dev", "env:staging", "env:prod"]   # real ones only
    gw.set_kill_switch(bob, scopes[0], True, "1")
    r.wait_for(1)                                        # the first is in flight; the other four queue behind it
    for n, scope in enumerate(scopes[1:], 2):
        gw.set_kill_switch(bob, scope, True, str(n))
    assert notifier.counts()["dropped"] == 2
    registry = CollectorRegistry()
    registry.register(notifier)
    metrics = generate_latest(registry).decode()
    assert 'blastwall_notifications_total{outcome="dropped"} 2.0' in metrics
    assert "blastwall_notifications_queued 2.0" in metrics
    r.release.set()
    assert notifier.wait_idle(10)
    assert sum(changes) == 0 and max(itertools.accumulate(changes)) == 2   # the listener saw the same queue
    assert [e["scope"] for e in r.payloads()] == [scopes[0], scopes[3], scopes[4]]


def test_close_interrupts_backoff_and_stops_workers(receivers, notifiers):
    r = receivers(fail_first=100)
    notifier = notifiers(slack(r), backoff_seconds=60, attempts=5)
    notifier.kill_switch_changed({"scope": "global", "engaged": True, "grants_voided": 0}, "bob", "x")
    r.wait_for(1)
    start = time.perf_counter()
    notifier.close()
    assert time.perf_counter() - start < 3
    assert all(not c.thread.is_alive() for c in notifier.channels)


def test_notifier_calls_never_raise(notifiers, receivers, caplog):
    r = receivers()
    notifier = notifiers(slack(r))
    notifier.approval_requested({"nonsense": True}, object(), object(), None)      # logged, not raised
    notifier.kill_switch_changed({}, "bob", "x")
    assert [rec.message for rec in caplog.records].count("could not queue the approval notification") == 1
    assert all(c.thread.is_alive() for c in notifier.channels)                     # and it still delivers
    notifier.kill_switch_changed({"scope": "global", "engaged": True, "grants_voided": 0}, "bob", "x")
    assert r.wait_for(1)


# ---- configuration and `blastwall serve --notify` ---------------------------------------------
def eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def write_config(path: Path, hooks: list, **extra) -> Path:
    path.write_text(json.dumps({"notifications": {"public_url": PUBLIC + "/", "webhooks": hooks, **extra}}))
    return path


def test_config_file_resolves_secrets_from_the_environment(tmp_path):
    path = write_config(tmp_path / "n.yaml", [{"url_env": "HOOK_URL", "format": "slack"},
                                              {"url": "http://127.0.0.1:1/x", "format": "signed",
                                               "secret_env": "HOOK_SECRET"}], attempts=3)
    cfg = load_notify_config(path, {"HOOK_URL": "https://hooks.example.com/T/B/x", "HOOK_SECRET": "k"})
    assert cfg.public_url == PUBLIC and cfg.attempts == 3
    assert cfg.webhooks == (Webhook("https://hooks.example.com/T/B/x", "slack"),
                            Webhook("http://127.0.0.1:1/x", "signed", b"k"))
    assert cfg.webhooks[0].label == "slack:https://hooks.example.com"


@pytest.mark.parametrize("hook, extra, field", [
    ({"url": "http://h/x", "format": "signed", "secret_env": "UNSET_VAR"}, {}, "secret_env"),
    ({"url": "http://h/x", "format": "signed"}, {}, "secret_env"),
    ({"url": "ftp://h/x", "format": "slack"}, {}, "url"),
    ({"url": "http://h/x", "format": "teams"}, {}, "format"),
    ({"url": "http://h/x", "format": "slack", "secret_env": "X"}, {}, "secret_env"),
    ({"url": "http://h/x", "format": "slack"}, {"attempts": 0}, "attempts"),
    ({"url": "http://h/x", "format": "slack"}, {"retries": 3}, "notifications"),
])
def test_bad_configs_are_refused_with_the_field(hook, extra, field):
    with pytest.raises(InputError) as err:
        parse_notify_config({"notifications": {"public_url": PUBLIC, "webhooks": [hook], **extra}}, {})
    assert field in err.value.field


def test_serve_with_notify_posts_to_the_webhook(tmp_path, receivers, monkeypatch):
    r = receivers()
    monkeypatch.setenv("BW_TEST_HOOK_SECRET", SECRET.decode())
    config = write_config(tmp_path / "notify.yaml", [{"url": r.url, "format": "signed",
                                                      "secret_env": "BW_TEST_HOOK_SECRET"}])
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}", extra_args=("--notify", str(config))).wait_ready()
    try:
        with Client(svc.url, token("kiro-ops-7")) as agent:
            rid = agent.propose(NS_DELETE).approval_request_id
        [hit] = r.wait_for(1)
        assert json.loads(hit["body"])["request_id"] == rid
        assert verify_signature(SECRET, hit["body"], hit["headers"]["X-Blastwall-Timestamp"],
                                hit["headers"]["X-Blastwall-Signature"])
        assert eventually(lambda: 'blastwall_notifications_total{outcome="delivered"} 1.0'
                          in httpx.get(svc.url + "/metrics").text)
    finally:
        svc.kill(15)


def test_with_workers_metrics_count_every_workers_notifications(tmp_path, receivers, monkeypatch):
    r = receivers()
    monkeypatch.setenv("BW_TEST_HOOK_SECRET", SECRET.decode())
    config = write_config(tmp_path / "notify.yaml", [{"url": r.url, "format": "signed",
                                                      "secret_env": "BW_TEST_HOOK_SECRET"}])
    svc = Service(tmp_path, f"sqlite:///{tmp_path / 'bw.db'}",
                  extra_args=("--notify", str(config), "--workers", "2")).wait_ready()
    try:
        for n in range(6):                                # new connections: both workers take some
            region = ("cn-north-1", "us-east-1", "eu-west-1")[n % 3]
            with Client(svc.url, token(("kiro-ops-7", "coder-1")[n // 3])) as agent:
                agent.propose({**NS_DELETE, "argv": [*NS_DELETE["argv"][:-1], f"prod-{region}"]})
        r.wait_for(6)
        expected = 'blastwall_notifications_total{outcome="delivered"} 6.0'
        assert eventually(lambda: expected in httpx.get(svc.url + "/metrics").text)
        answers = [httpx.get(svc.url + "/metrics").text for _ in range(8)]    # whichever worker answers
        assert all(expected in a and "blastwall_notifications_queued 0.0" in a for a in answers)
    finally:
        svc.kill(15)
