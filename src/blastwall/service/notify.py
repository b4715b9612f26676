"""Webhook notifications for approval requests and kill-switch changes.

The Gateway calls ``Notifier.approval_requested`` / ``kill_switch_changed``
after the store commit.  Those calls only build a small event and append it to
each webhook's bounded queue: they never block, never raise, and never change a
decision.  A full queue drops its oldest event (counted as ``dropped``).  One
worker thread per webhook POSTs the events, retrying failures (network errors,
timeouts, 408/425/429/5xx) with exponential backoff and jitter, up to
``attempts`` tries; every failure is logged, without the webhook URL's path
(a Slack webhook URL is itself a secret).

Config, the ``notifications`` section of the file given to ``blastwall serve --notify``:

    notifications:
      public_url: https://blastwall.example.com      # links: {public_url}/v1/approvals/{id}
      webhooks:
        - url_env: SLACK_WEBHOOK_URL                 # or url: https://...
          format: slack                              # {"text": ..., "blocks": [...]}
        - url: https://ops.example.com/hooks/blastwall
          format: signed                             # the event as JSON, HMAC-signed
          secret_env: BLASTWALL_WEBHOOK_SECRET
      # optional: queue_size 1000, attempts 5, backoff_seconds 0.5, max_backoff_seconds 30, timeout_seconds 5

Signed deliveries carry ``X-Blastwall-Timestamp: UNIX_SECONDS`` and
``X-Blastwall-Signature: sha256=HEX`` where HEX is HMAC-SHA256(secret,
TIMESTAMP + "." + RAW_BODY).  A receiver recomputes it over the raw bytes,
compares in constant time, and rejects timestamps more than 5 minutes away
from its clock; ``event_id`` (also ``X-Blastwall-Delivery``) is stable across
retries, so remembering recent ids makes replays inside that window harmless.
``verify_signature`` does the check; docs/notifications.md shows it standalone.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from blastwall.core.decide import summarize
from blastwall.core.model import Impact
from blastwall.errors import InputError
from blastwall.loaders.yamlsafe import load_yaml_with_lines

log = logging.getLogger("blastwall.notify")

FORMATS = ("slack", "signed")
RETRY_STATUSES = frozenset({408, 425, 429})
SIGNATURE_TOLERANCE = 300
OUTCOMES = ("delivered", "failed", "retried", "dropped")


# ---- configuration ------------------------------------------------------------
@dataclass(frozen=True)
class Webhook:
    url: str
    format: str
    secret: bytes = b""

    @property
    def label(self) -> str:
        """The URL without its path or query, safe to log."""
        parts = urlsplit(self.url)
        return f"{self.format}:{parts.scheme}://{parts.hostname}"


@dataclass(frozen=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...]
    public_url: str
    queue_size: int = 1000
    attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 5.0


_LIMITS = {"queue_size": (int, 1, 1_000_000), "attempts": (int, 1, 20), "backoff_seconds": (float, 0.0, 600.0),
           "max_backoff_seconds": (float, 0.0, 3600.0), "timeout_seconds": (float, 0.1, 120.0)}
_HOOK_KEYS = {"url", "url_env", "format", "secret_env"}


def load_notify_config(path: str | Path, environ: Mapping[str, str] = os.environ) -> NotifyConfig:
    text = Path(path).read_text(encoding="utf-8")
    doc, _ = load_yaml_with_lines(text, str(path))
    try:
        return parse_notify_config(doc, environ)
    except InputError as exc:
        raise InputError(exc.message, source=str(path), field=exc.field) from None


def parse_notify_config(doc: Any, environ: Mapping[str, str] = os.environ) -> NotifyConfig:
    section = doc.get("notifications") if isinstance(doc, Mapping) else None
    if not isinstance(section, Mapping):
        raise InputError("the file needs a 'notifications' section", field="notifications")
    unknown = set(section) - {"public_url", "webhooks", *_LIMITS}
    if unknown:
        raise InputError(f"unknown key '{sorted(unknown)[0]}'", field="notifications")
    hooks = section.get("webhooks")
    if not isinstance(hooks, list) or not hooks:
        raise InputError("'webhooks' must be a non-empty list", field="notifications.webhooks")
    webhooks = tuple(_webhook(h, f"notifications.webhooks[{i}]", environ) for i, h in enumerate(hooks))
    public_url = _http_url(section.get("public_url"), "notifications.public_url").rstrip("/")
    return NotifyConfig(webhooks, public_url, **_limits(section))


def _webhook(raw: Any, where: str, environ: Mapping[str, str]) -> Webhook:
    if not isinstance(raw, Mapping) or set(raw) - _HOOK_KEYS:
        raise InputError(f"a webhook is an object with keys {', '.join(sorted(_HOOK_KEYS))}", field=where)
    if raw.get("format") not in FORMATS:
        raise InputError("format is slack or signed", field=f"{where}.format")
    if ("url" in raw) == ("url_env" in raw):
        raise InputError("give url or url_env", field=where)
    url = raw["url"] if "url" in raw else _env(environ, raw["url_env"], f"{where}.url_env")
    secret = b""
    if raw["format"] == "signed":
        if "secret_env" not in raw:
            raise InputError("a signed webhook needs secret_env", field=f"{where}.secret_env")
        secret = _env(environ, raw["secret_env"], f"{where}.secret_env").encode()
    elif "secret_env" in raw:
        raise InputError("secret_env is for format: signed", field=f"{where}.secret_env")
    return Webhook(_http_url(url, f"{where}.url"), raw["format"], secret)


def _env(environ: Mapping[str, str], name: Any, where: str) -> str:
    value = environ.get(name) if isinstance(name, str) else None
    if not value:
        raise InputError(f"environment variable {name!r} is not set", field=where)
    return value


def _http_url(value: Any, where: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
        raise InputError("an http:// or https:// URL is required", field=where)
    return value


def _limits(section: Mapping) -> dict:
    out = {}
    for key, (kind, low, high) in _LIMITS.items():
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                    or (kind is int and not isinstance(value, int)):
                raise InputError(f"{key} must be a number from {low} to {high}", field=f"notifications.{key}")
            out[key] = kind(value)
    return out


# ---- events and payloads ----------------------------------------------------------
def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def approval_event(ids: Mapping, agent: str, operator: str, decision: Mapping, expires_at: str,
                   public_url: str) -> dict:
    rid, need = ids["approval_request_id"], decision.get("approval") or {}
    return {"type": "approval_requested", "event_id": "evt_" + secrets.token_hex(8), "at": _now_iso(),
            "proposal_id": ids["proposal_id"], "request_id": rid, "agent": agent, "operator": operator,
            "summary": summarize(Impact.from_dict(decision["impact"])), "impact": decision["impact"],
            "required": {"approvers": need.get("approvers", 1), "environments": need.get("environments", []),
                         "regions": need.get("regions", []), "rules": need.get("rules", [])},
            "expires_at": expires_at, "link": f"{public_url}/v1/approvals/{rid}"}


def kill_switch_event(result: Mapping, by: str, reason: str, public_url: str) -> dict:
    return {"type": "kill_switch", "event_id": "evt_" + secrets.token_hex(8), "at": _now_iso(),
            "scope": result["scope"], "engaged": bool(result["engaged"]), "by": by, "reason": reason,
            "grants_voided": result.get("grants_voided", 0), "link": f"{public_url}/v1/kill-switch"}


def _mrkdwn(text: Any) -> str:
    """Escape Slack's control characters, so untrusted text cannot mention or link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: Mapping) -> dict:
    if event["type"] == "approval_requested":
        return _slack_approval(event)
    return _slack_kill_switch(event)


def _slack_approval(e: Mapping) -> dict:
    need = e["required"]
    scope = f"{', '.join(need['environments']) or '-'} / {', '.join(need['regions']) or '-'}"
    text = (f"Approval needed: {_mrkdwn(e['agent'])} proposes a change that {_mrkdwn(e['summary'])}. "
            f"Needs {need['approvers']} approver(s) with authority over {_mrkdwn(scope)}. {e['link']}")
    body = (f"*Agent* {_mrkdwn(e['agent'])} (operator {_mrkdwn(e['operator'] or '-')})\n"
            f"*Impact* {_mrkdwn(e['summary'])}\n"
            f"*Needs* {need['approvers']} approver(s) with authority over {_mrkdwn(scope)}\n"
            f"*Review* `blastwall approvals show {_mrkdwn(e['request_id'])}`")
    context = f"proposal {_mrkdwn(e['proposal_id'])} · request {_mrkdwn(e['request_id'])} · expires {e['expires_at']}"
    return {"text": text, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": body}},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open request"},
                                          "url": e["link"]}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]}]}


def _slack_kill_switch(e: Mapping) -> dict:
    state = "ENGAGED" if e["engaged"] else "released"
    text = (f"Kill switch {state} for {_mrkdwn(e['scope'])} by {_mrkdwn(e['by'])}: {_mrkdwn(e['reason'])} "
            f"({e['grants_voided']} grant(s) voided)")
    return {"text": text, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": f"Kill switch {state}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{e['at']} · {e['link']}"}]}]}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: bytes, body: bytes, timestamp: str, signature: str,
                     tolerance: float = SIGNATURE_TOLERANCE, now: float | None = None) -> bool:
    """True when the signature matches the raw body and the timestamp is fresh."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except (TypeError, ValueError):
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def encode(hook: Webhook, event: Mapping) -> tuple[bytes, dict]:
    """The body and headers of one delivery attempt (signed ones are stamped now)."""
    payload = slack_payload(event) if hook.format == "slack" else event
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "blastwall-notify/1"}
    if hook.format == "signed":
        stamp = str(int(time.time()))
        headers |= {"X-Blastwall-Timestamp": stamp, "X-Blastwall-Signature": sign(hook.secret, stamp, body),
                    "X-Blastwall-Event": event["type"], "X-Blastwall-Delivery": event["event_id"]}
    return body, headers


# ---- delivery ------------------------------------------------------------------------
class _Outbox:
    """A bounded queue that drops its oldest item when full and knows when it is idle."""

    def __init__(self, size: int, on_size: Callable[[int], None]):
        self.size, self._items, self._busy = size, deque(), 0
        self._cv = threading.Condition()
        self._on_size = on_size              # told +1 / -1 as items come and go

    def put(self, item: Any) -> bool:
        """Append; return True when the oldest item was dropped to make room."""
        with self._cv:
            dropped = len(self._items) >= self.size
            if dropped:
                self._items.popleft()
            self._items.append(item)
            self._cv.notify_all()
        if not dropped:
            self._on_size(1)
        return dropped

    def take(self, timeout: float) -> Any | None:
        with self._cv:
            if not self._items and not self._cv.wait(timeout):
                return None
            if not self._items:
                return None
            self._busy += 1
            item = self._items.popleft()
        self._on_size(-1)
        return item

    def done(self) -> None:
        with self._cv:
            self._busy -= 1
            self._cv.notify_all()

    def wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cv:
            return self._cv.wait_for(lambda: not self._items and not self._busy, timeout)

    def __len__(self) -> int:
        return len(self._items)


class _Stats:
    """Outcome counts and the queue length; ``listen`` passes each change on (to shared metrics)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self._outcome: Callable[[str], None] = lambda outcome: None
        self._queued: Callable[[int], None] = lambda delta: None

    def listen(self, outcome: Callable[[str], None], queued: Callable[[int], None]) -> None:
        self._outcome, self._queued = outcome, queued

    def add(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1
        self._outcome(outcome)

    def queued(self, delta: int) -> None:
        self._queued(delta)


class _Channel:
    """One webhook: its outbox and the worker thread that delivers from it."""

    def __init__(self, hook: Webhook, config: NotifyConfig, stats: _Stats, stop: threading.Event):
        self.hook, self.config, self.stats, self.stop = hook, config, stats, stop
        self.outbox = _Outbox(config.queue_size, stats.queued)
        self.http = httpx.Client(timeout=config.timeout_seconds, follow_redirects=False)
        self.thread = threading.Thread(target=self._run, name=f"blastwall-notify {hook.label}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            event = self.outbox.take(timeout=0.2)
            if event is None:
                continue
            try:
                self.deliver(event)
            except Exception:  # noqa: BLE001  a bug must not kill the worker
                log.exception("notification to %s crashed", self.hook.label)
                self.stats.add("failed")
            finally:
                self.outbox.done()

    def deliver(self, event: Mapping) -> bool:
        for attempt in range(1, self.config.attempts + 1):
            error = self._attempt(event)
            if error is None:
                self.stats.add("delivered")
                return True
            retry = error.startswith("retry:") and attempt < self.config.attempts
            log.warning("notification %s to %s failed (attempt %d/%d): %s", event["event_id"], self.hook.label,
                        attempt, self.config.attempts, error)
            if not retry or self.stop.wait(self.backoff(attempt)):
                break
            self.stats.add("retried")
        self.stats.add("failed")
        log.error("notification %s to %s given up", event["event_id"], self.hook.label)
        return False

    def _attempt(self, event: Mapping) -> str | None:
        """None on success, 'retry: why' when worth retrying, 'final: why' otherwise."""
        body, headers = encode(self.hook, event)
        try:
            res = self.http.post(self.hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"retry: {type(exc).__name__}"
        if res.is_success:
            return None
        kind = "retry" if res.status_code >= 500 or res.status_code in RETRY_STATUSES else "final"
        return f"{kind}: HTTP {res.status_code}"

    def backoff(self, attempt: int) -> float:
        """Exponential, capped, with equal jitter: between half and all of base * 2^(attempt-1)."""
        full = min(self.config.max_backoff_seconds, self.config.backoff_seconds * 2 ** (attempt - 1))
        return full / 2 + random.uniform(0, full / 2)


class NullNotifier:
    """The default: notifies no one."""

    def approval_requested(self, ids: Mapping, proposal: Any, decision: Mapping, expires_at: datetime) -> None:
        pass

    def kill_switch_changed(self, result: Mapping, by: str, reason: str) -> None:
        pass

    def close(self, drain: float = 0.0) -> None:
        pass


class Notifier(NullNotifier):
    def __init__(self, config: NotifyConfig):
        self.config = config
        self.stats = _Stats()
        self._stop = threading.Event()
        self.channels = [_Channel(hook, config, self.stats, self._stop) for hook in config.webhooks]

    # ---- called by the Gateway after the commit: never block, never raise ----------
    def approval_requested(self, ids: Mapping, proposal: Any, decision: Mapping, expires_at: datetime) -> None:
        """``decision``: the decision document (Decision.to_dict())."""
        try:
            self.publish(approval_event(ids, proposal.agent, proposal.operator, decision,
                                        expires_at.isoformat(), self.config.public_url))
        except Exception:  # noqa: BLE001
            log.exception("could not queue the approval notification")

    def kill_switch_changed(self, result: Mapping, by: str, reason: str) -> None:
        try:
            self.publish(kill_switch_event(result, by, reason, self.config.public_url))
        except Exception:  # noqa: BLE001
            log.exception("could not queue the kill-switch notification")

    def publish(self, event: dict) -> None:
        for channel in self.channels:
            if channel.outbox.put(event):
                self.stats.add("dropped")
                log.warning("notification queue for %s full: dropped the oldest event", channel.hook.label)

    # ---- observation and shutdown -------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return dict(self.stats.counts)

    def listen(self, outcome: Callable[[str], None], queued: Callable[[int], None]) -> None:
        """Be told each outcome as it is counted, and each change (+1 / -1) of the queued total."""
        self.stats.listen(outcome, queued)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(c.outbox.wait_idle(max(0.0, deadline - time.monotonic())) for c in self.channels)

    def collect(self):
        """Prometheus collector: ``registry.register(notifier)`` puts these on /metrics."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        sent = CounterMetricFamily("blastwall_notifications", "Webhook notifications by outcome", labels=["outcome"])
        for outcome, n in self.counts().items():
            sent.add_metric([outcome], n)
        queued = GaugeMetricFamily("blastwall_notifications_queued", "Notifications waiting to be sent")
        queued.add_metric([], sum(len(c.outbox) for c in self.channels))
        return [sent, queued]

    def close(self, drain: float = 0.0) -> None:
        """Stop the workers, after up to ``drain`` seconds for queued events to go out."""
        if drain:
            self.wait_idle(drain)
        self._stop.set()
        for channel in self.channels:
            channel.outbox.wake()
        for channel in self.channels:
            channel.thread.join(timeout=1.0)
            if not channel.thread.is_alive():
                channel.http.close()
        left = sum(len(c.outbox) for c in self.channels)
        if left:
            log.warning("%d notification(s) not sent at shutdown", left)
