"""Prometheus metrics of one service process."""
from __future__ import annotations

import time
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter("blastwall_decisions_total", "Decisions by effect", ["effect"], registry=self.registry)
        self.latency = Histogram("blastwall_decision_seconds", "Decision latency (impact + policy)",
                                 buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1), registry=self.registry)
        self.changes = Counter("blastwall_agent_changes_total", "Accepted changes per agent", ["agent"],
                               registry=self.registry)
        self.pending = Gauge("blastwall_pending_approvals", "Open approval requests", registry=self.registry)
        self.killed = Gauge("blastwall_kill_switch_engaged", "Kill switch state", ["scope"], registry=self.registry)

    @contextmanager
    def timer(self):
        start = time.perf_counter()
        yield
        self.latency.observe(time.perf_counter() - start)

    def decided(self, decision, agent: str, accepted_change: bool) -> None:
        self.decisions.labels(str(decision.effect)).inc()
        if accepted_change:
            self.changes.labels(agent).inc()

    def kill_switch(self, scope: str, engaged: bool) -> None:
        self.killed.labels(scope).set(1 if engaged else 0)

    def render(self, pending: int, switches: dict) -> bytes:
        self.pending.set(pending)
        for scope, state in switches.items():
            self.killed.labels(scope).set(1 if state["engaged"] else 0)
        return generate_latest(self.registry)
