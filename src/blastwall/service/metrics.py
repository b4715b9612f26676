"""Prometheus metrics of the service.

One process: its own registry.  Several (``blastwall serve --workers N``): each worker
writes its values to files under PROMETHEUS_MULTIPROC_DIR (set by the parent) and
/metrics, answered by any worker, adds up all of them.  ``registry`` is where other
collectors (the notifier's, for one) register in both cases.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        own = None if self.multiprocess else self.registry     # with workers: only in the shared files
        self.decisions = Counter("blastwall_decisions_total", "Decisions by effect", ["effect"], registry=own)
        self.latency = Histogram("blastwall_decision_seconds", "Decision latency (impact + policy)",
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1), registry=own)
        self.changes = Counter("blastwall_agent_changes_total", "Accepted changes per agent", ["agent"],
                               registry=own)
        self.pending = Gauge("blastwall_pending_approvals", "Open approval requests", registry=own,
                             multiprocess_mode="mostrecent")
        self._children: dict = {}
        self.killed = Gauge("blastwall_kill_switch_engaged", "Kill switch state", ["scope"], registry=own,
                            multiprocess_mode="mostrecent")

    @contextmanager
    def timer(self):
        start = time.perf_counter()
        yield
        self.latency.observe(time.perf_counter() - start)

    def decided(self, decision, agent: str, accepted_change: bool) -> None:
        self._child(self.decisions, str(decision.effect)).inc()
        if accepted_change:
            self._child(self.changes, agent).inc()

    def _child(self, metric, label: str):
        """``metric.labels(label)``, remembered (labels() validates and locks on every call)."""
        key = (id(metric), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(label)
        return child

    def watch(self, notifier) -> None:
        """Notification counts on /metrics.  One process: the notifier's own collector.  With
        workers: metrics in the shared files, added to as outcomes happen, so that whichever worker
        answers /metrics reports every worker's notifications."""
        if not self.multiprocess:
            self.registry.register(notifier)
            return
        sent = Counter("blastwall_notifications", "Webhook notifications by outcome", ["outcome"], registry=None)
        queued = Gauge("blastwall_notifications_queued", "Notifications waiting to be sent", registry=None,
                       multiprocess_mode="livesum")
        for outcome in notifier.counts():
            sent.labels(outcome)
        notifier.listen(lambda outcome: sent.labels(outcome).inc(), queued.inc)

    def kill_switch(self, scope: str, engaged: bool) -> None:
        self.killed.labels(scope).set(1 if engaged else 0)

    def render(self, pending: int, switches: dict) -> bytes:
        self.pending.set(pending)
        for scope, state in switches.items():
            self.killed.labels(scope).set(1 if state["engaged"] else 0)
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess
        every_worker = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_worker)
        return generate_latest(every_worker) + generate_latest(self.registry)
