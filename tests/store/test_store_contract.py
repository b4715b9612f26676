"""The store contract, run against SQLite and PostgreSQL alike (see conftest.store)."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from blastwall.audit.chain import GENESIS, verify
from blastwall.store.base import StoreConflict, StoreError
from blastwall.store.sql import MIGRATIONS

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
LATEST = MIGRATIONS[-1][0]


# helpers --------------------------------------------------------------------------------
def proposal_row(pid: str, agent: str = "agent-a", envs=("prod",), status: str = "pending", at=T0) -> dict:
    return {"id": pid, "agent": agent, "operator": "op-1", "intent": "<script>rm -rf</script>",
            "proposal": {"operations": [{"verb": "delete", "target": "db-1"}]},
            "decision": {"effect": "approve", "impact": {"environments": list(envs)}},
            "effect": "approve", "digest": f"d-{pid}", "policy_revision": "p1", "inventory_revision": "i1",
            "status": status, "created_at": at}


def grant_row(gid: str, pid: str, expires=T0 + timedelta(hours=1)) -> dict:
    return {"id": gid, "proposal_id": pid, "request_id": None, "digest": f"d-{pid}",
            "created_at": T0, "expires_at": expires}


def run_threads(n: int, fn) -> list:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def all_records(store) -> list:
    return store.audit_records(limit=1_000_000)


class Gate:
    """Holds the writer thread inside one work, so the next works queue up into one batch."""

    def __init__(self, store) -> None:
        self.store, self.open, entered = store, threading.Event(), threading.Event()

        def hold(tx):
            entered.set()
            self.open.wait(30)
            return "held"
        self.holder = threading.Thread(target=store.transact, args=(hold,))
        self.holder.start()
        assert entered.wait(10)

    def release_when_queued(self, n: int) -> None:
        deadline = time.monotonic() + 10
        while self.store._writer.pending() < n and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.store._writer.pending() >= n
        self.open.set()
        self.holder.join(10)


def batch_of(store, works: list) -> list:
    """Run ``works`` concurrently as one group-commit batch; results or exceptions, in order."""
    gate = Gate(store)
    out: list = [None] * len(works)

    def call(i):
        try:
            out[i] = store.transact(works[i])
        except BaseException as exc:  # noqa: BLE001
            out[i] = exc
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    before = store.batches
    gate.release_when_queued(len(works))
    for t in threads:
        t.join(30)
    assert store.batches - before <= 2           # the held batch, then all of ours together
    return out


# schema ---------------------------------------------------------------------------------
def test_migrations_are_idempotent(store, open_replica):
    assert store.schema_version() == LATEST
    store.migrate()
    store.migrate()
    others = [open_replica() for _ in range(3)]      # each migrates again, on open
    run_threads(3, lambda i: others[i].migrate())
    assert store.schema_version() == LATEST
    assert store.audit_head() == (0, GENESIS)


# proposals --------------------------------------------------------------------------------
def test_proposal_roundtrip_and_listing(store):
    store.transact(lambda tx: tx.insert_proposal(proposal_row("p1")))
    store.transact(lambda tx: tx.insert_proposal(proposal_row("p2", agent="agent-b", status="approved",
                                                              at=T0 + timedelta(minutes=1))))
    got = store.read(lambda tx: tx.get_proposal("p1"))
    assert got["intent"] == "<script>rm -rf</script>"
    assert got["proposal"] == {"operations": [{"verb": "delete", "target": "db-1"}]}
    assert got["decision"]["effect"] == "approve" and got["envs"] == ["prod"]
    assert got["created_at"] == T0 and got["created_at"].tzinfo is not None
    assert store.read(lambda tx: tx.get_proposal("nope")) is None

    store.transact(lambda tx: tx.set_proposal_status("p1", "denied"))
    assert store.read(lambda tx: tx.get_proposal("p1"))["status"] == "denied"
    assert [p["id"] for p in store.list_proposals()] == ["p2", "p1"]          # newest first
    assert [p["id"] for p in store.list_proposals(status="denied")] == ["p1"]
    assert [p["id"] for p in store.list_proposals(agent="agent-b")] == ["p2"]
    assert len(store.list_proposals(limit=1)) == 1


def test_duplicate_id_is_a_conflict_and_changes_nothing(store):
    store.transact(lambda tx: tx.insert_proposal(proposal_row("p1")))

    def again(tx):
        tx.audit("proposal", "agent-a", {"id": "p1"}, T0)
        tx.insert_proposal(proposal_row("p1"))
    with pytest.raises(StoreConflict):
        store.transact(again)
    assert store.audit_head() == (0, GENESIS)


# approval requests and reviews --------------------------------------------------------------
def test_requests_and_reviews(store):
    req = {"id": "r1", "proposal_id": "p1", "digest": "d-p1", "approvers": 2,
           "scope": {"environments": ["prod"], "regions": ["eu-west-1"]}, "state": "pending",
           "created_at": T0, "expires_at": T0 + timedelta(hours=1), "emergency": True}
    store.transact(lambda tx: tx.insert_request(req))
    store.transact(lambda tx: tx.insert_request({**req, "id": "r2", "emergency": False,
                                                 "created_at": T0 + timedelta(seconds=1)}))

    def review(tx):
        locked = tx.get_request("r1", for_update=True)
        assert locked["state"] == "pending"
        tx.insert_review({"request_id": "r1", "reviewer": "alice", "verdict": "approve", "accepted": True,
                          "reason": "ok", "at": T0})
        tx.insert_review({"request_id": "r1", "reviewer": "mallory", "verdict": "approve", "accepted": False,
                          "reason": "scope mismatch", "at": T0 + timedelta(seconds=1)})
        tx.set_request_state("r1", "approved")
        return tx.reviews("r1")
    reviews = store.transact(review)
    assert [(r["reviewer"], r["accepted"]) for r in reviews] == [("alice", True), ("mallory", False)]
    got = store.read(lambda tx: tx.get_request("r1"))
    assert got["state"] == "approved" and got["emergency"] is True and got["approvers"] == 2
    assert got["scope"] == {"environments": ["prod"], "regions": ["eu-west-1"]}
    assert got["expires_at"] == T0 + timedelta(hours=1)
    assert [r["id"] for r in store.list_requests(state="pending")] == ["r2"]
    assert [r["id"] for r in store.list_requests()] == ["r2", "r1"]
    assert store.read(lambda tx: tx.reviews("r2")) == []


def test_requests_listed_for_one_agent_are_those_of_its_proposals(store):
    def request(rid, pid, at):
        return {"id": rid, "proposal_id": pid, "digest": "d", "approvers": 1, "scope": {}, "state": "pending",
                "created_at": at, "expires_at": at + timedelta(hours=1), "emergency": False}
    store.transact(lambda tx: (tx.insert_proposal(proposal_row("pa", agent="a")),
                               tx.insert_proposal(proposal_row("pb", agent="b")),
                               tx.insert_request(request("ra", "pa", T0)),
                               tx.insert_request(request("rb", "pb", T0 + timedelta(seconds=1))),
                               tx.insert_request(request("ra2", "pa", T0 + timedelta(seconds=2)))))
    assert [r["id"] for r in store.list_requests(agent="a")] == ["ra2", "ra"]
    assert [r["id"] for r in store.list_requests(agent="b", state="pending")] == ["rb"]
    assert store.list_requests(agent="c") == [] and len(store.list_requests()) == 3


def test_requests_listed_as_of_a_time_show_the_expired_as_expired(store):
    def request(rid, pid, at, ttl, state="pending"):
        return {"id": rid, "proposal_id": pid, "digest": f"d-{rid}", "approvers": 1, "scope": {}, "state": state,
                "created_at": at, "expires_at": at + ttl, "emergency": False}
    store.transact(lambda tx: (tx.insert_proposal(proposal_row("pa", agent="a")),
                               tx.insert_proposal(proposal_row("pb", agent="b")),
                               tx.insert_request(request("short", "pa", T0, timedelta(minutes=1))),
                               tx.insert_request(request("long", "pb", T0 + timedelta(seconds=1), timedelta(hours=1))),
                               tx.insert_request(request("vetoed", "pa", T0 + timedelta(seconds=2), timedelta(hours=1),
                                                         "vetoed"))))

    def listed(state, now, agent=None):
        return [(r["id"], r["state"]) for r in store.list_requests(state=state, agent=agent, now=now)]
    early, later = T0 + timedelta(seconds=30), T0 + timedelta(minutes=5)
    assert listed("pending", early) == [("long", "pending"), ("short", "pending")]
    assert listed("pending", later) == [("long", "pending")]
    assert listed("pending", later, agent="a") == []
    assert listed("expired", later) == [("short", "expired")] and listed("expired", early) == []
    assert listed(None, later) == [("vetoed", "vetoed"), ("long", "pending"), ("short", "expired")]
    assert [r["state"] for r in store.list_requests(state="pending")] == ["pending", "pending"]  # no time: as stored
    assert (store.count_pending(early), store.count_pending(later), store.count_pending(T0 + timedelta(hours=2))) \
        == (2, 1, 0)


def test_live_request_is_the_newest_pending_or_approved_with_a_usable_grant(store):
    def request(rid, state="pending", at=T0, approvers=2, emergency=False, digest="d-x"):
        return {"id": rid, "proposal_id": "p1", "digest": digest, "approvers": approvers, "scope": {},
                "state": state, "created_at": at, "expires_at": at + timedelta(hours=1), "emergency": emergency}

    def live(now=T0 + timedelta(minutes=1), approvers=2, emergency=False, digest="d-x"):
        return store.read(lambda tx: tx.live_request(digest, approvers, emergency, now))
    assert live() is None
    store.transact(lambda tx: tx.insert_request(request("r1")))
    store.transact(lambda tx: tx.insert_request(request("r-vetoed", state="vetoed", at=T0 + timedelta(seconds=5))))
    assert live() == "r1"
    assert live(approvers=3) is None and live(emergency=True) is None and live(digest="d-y") is None
    assert live(now=T0 + timedelta(hours=1)) is None                              # expired
    store.transact(lambda tx: tx.insert_request(request("r2", state="approved", at=T0 + timedelta(seconds=9))))
    assert live() == "r1"                                                          # approved, but no grant yet
    store.transact(lambda tx: tx.insert_grant({**grant_row("g2", "p1"), "request_id": "r2", "digest": "d-x"}))
    assert live() == "r2"                                                          # the newest live one
    assert store.transact(lambda tx: tx.redeem_grant("g2", "d-x", T0 + timedelta(minutes=1)))
    assert live() == "r1"                                                          # its grant is spent
    assert live(now=T0 + timedelta(hours=2)) is None



def _upgraded(store_url, monkeypatch, version: int, write):
    """A store at ``version`` with ``write`` done to it, then migrated to the latest (caller closes)."""
    from blastwall.store import sql
    from blastwall.store.base import open_store
    monkeypatch.setattr(sql, "MIGRATIONS", MIGRATIONS[:version])
    old = open_store(store_url)
    try:
        old.migrate()
        assert old.schema_version() == version
        old.transact(write)
    finally:
        old.close()
    monkeypatch.setattr(sql, "MIGRATIONS", MIGRATIONS)
    new = open_store(store_url)
    new.migrate()
    assert new.schema_version() == LATEST
    return new


def test_migration_6_keeps_open_only_the_requests_that_may_be_live(store_url, monkeypatch):
    """Requests filed before open_digest existed: the answers of live_request do not change."""
    from blastwall.store.sql import _time

    def insert(tx, rid, state, at, ttl=timedelta(hours=1)):
        tx._x("INSERT INTO approval_requests (id, proposal_id, digest, approvers, scope, state, created_at, "
              "expires_at, emergency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
              (rid, "p", "d", 2, "{}", state, _time(at), _time(at + ttl), 0))
    new = _upgraded(store_url, monkeypatch, 5, lambda tx: (
        insert(tx, "expired", "pending", T0, timedelta(seconds=1)),
        insert(tx, "vetoed", "vetoed", T0 + timedelta(seconds=5)),
        insert(tx, "live", "pending", T0 + timedelta(seconds=9))))
    try:
        opened = new.read(lambda tx: {r["id"] for r in tx._all(
            "SELECT id FROM approval_requests WHERE open_digest IS NOT NULL")})
        assert opened == {"live"}
        assert new.read(lambda tx: tx.live_request("d", 2, False, T0 + timedelta(minutes=1))) == "live"
        assert new.read(lambda tx: tx.get_request("live"))["state"] == "pending"     # the column stays inside
        assert "open_digest" not in new.read(lambda tx: tx.get_request("live"))
    finally:
        new.close()


# grants -------------------------------------------------------------------------------------
def test_grant_redeemed_once_only_and_only_as_issued(store):
    def setup(tx):
        tx.insert_proposal(proposal_row("p1"))
        tx.insert_grant(grant_row("g1", "p1"))
        tx.insert_grant(grant_row("g2", "p1", expires=T0 + timedelta(minutes=5)))
    store.transact(setup)
    now = T0 + timedelta(minutes=1)
    assert store.transact(lambda tx: tx.redeem_grant("g1", "d-other", now)) is False      # changed plan
    assert store.transact(lambda tx: tx.redeem_grant("g1", "d-p1", now)) is True
    assert store.transact(lambda tx: tx.redeem_grant("g1", "d-p1", now)) is False         # replay
    assert store.transact(lambda tx: tx.redeem_grant("g2", "d-p1", T0 + timedelta(minutes=5))) is False  # late
    assert store.transact(lambda tx: tx.redeem_grant("missing", "d-p1", now)) is False
    g1 = store.read(lambda tx: tx.get_grant("g1"))
    assert g1["redeemed_at"] == now and g1["void_reason"] is None
    assert store.read(lambda tx: tx.get_grant("g2"))["redeemed_at"] is None


def test_grant_redeemed_concurrently_exactly_one_wins(store, open_replica):
    store.transact(lambda tx: (tx.insert_proposal(proposal_row("p1")), tx.insert_grant(grant_row("g1", "p1"))))
    other = open_replica()
    stores = [store, other]
    wins = run_threads(16, lambda i: stores[i % 2].transact(lambda tx: tx.redeem_grant("g1", "d-p1", T0)))
    assert wins.count(True) == 1 and wins.count(False) == 15


def test_void_grants_by_scope(store):
    def setup(tx):
        tx.insert_proposal(proposal_row("pa", agent="a", envs=["prod", "staging"]))
        tx.insert_proposal(proposal_row("pb", agent="b", envs=["dev"]))
        tx.insert_proposal(proposal_row("pc", agent="b", envs=["prod"]))
        for gid, pid in (("ga", "pa"), ("gb", "pb"), ("gc", "pc"), ("gr", "pc")):
            tx.insert_grant(grant_row(gid, pid))
        assert tx.redeem_grant("gr", "d-pc", T0)            # redeemed grants are never voided
    store.transact(setup)
    assert store.transact(lambda tx: tx.void_grants("kill env:staging", env="staging")) == 1
    assert store.transact(lambda tx: tx.void_grants("kill agent:b", agent="b")) == 2
    assert store.transact(lambda tx: tx.void_grants("kill global")) == 0
    assert store.read(lambda tx: tx.get_grant("ga"))["void_reason"] == "kill env:staging"
    assert store.read(lambda tx: tx.get_grant("gb"))["void_reason"] == "kill agent:b"
    assert store.read(lambda tx: tx.get_grant("gr"))["void_reason"] is None
    assert store.transact(lambda tx: tx.redeem_grant("ga", "d-pa", T0)) is False


def test_void_all_grants(store):
    store.transact(lambda tx: (tx.insert_proposal(proposal_row("p1")), tx.insert_grant(grant_row("g1", "p1")),
                               tx.insert_grant(grant_row("g2", "p1"))))
    assert store.transact(lambda tx: tx.void_grants("kill global")) == 2
    assert store.transact(lambda tx: tx.redeem_grant("g1", "d-p1", T0)) is False


def test_void_grants_by_env_covers_proposals_whose_environments_are_unknown(store):
    """envs lists the known targets' environments only: a proposal marked unknown_env (targets the
    inventory does not know) may touch any environment, so every env switch voids its grants."""
    def setup(tx):
        tx.insert_proposal({**proposal_row("pu", envs=[]), "unknown_env": True})
        tx.insert_proposal({**proposal_row("pm", envs=["dev"]), "unknown_env": True})   # partly known
        tx.insert_proposal({**proposal_row("pk", envs=["dev"]), "unknown_env": False})
        unknown = proposal_row("pd", envs=[])                                         # default: from the decision
        unknown["decision"] = {"effect": "approve", "impact": {"environments": [], "unknown_targets": ["<x>"]}}
        tx.insert_proposal(unknown)
        for gid, pid in (("gu", "pu"), ("gm", "pm"), ("gk", "pk"), ("gd", "pd"), ("gx", "no-such-proposal")):
            tx.insert_grant(grant_row(gid, pid))
    store.transact(setup)
    got = store.read(lambda tx: {p: tx.get_proposal(p)["unknown_env"] for p in ("pu", "pm", "pk", "pd")})
    assert got == {"pu": True, "pm": True, "pk": False, "pd": True}
    assert store.transact(lambda tx: tx.void_grants("kill env:prod", env="prod")) == 4
    voided = store.read(lambda tx: {g: tx.get_grant(g)["void_reason"] for g in ("gu", "gm", "gk", "gd", "gx")})
    assert voided == {"gu": "kill env:prod", "gm": "kill env:prod", "gk": None, "gd": "kill env:prod",
                      "gx": "kill env:prod"}                        # no proposal row: fail closed
    assert store.transact(lambda tx: tx.void_grants("kill env:dev", env="dev")) == 1


def test_migration_3_marks_proposals_recorded_before_it(store_url, monkeypatch):
    """Rows written by a version without the unknown_env column are marked from their decision."""
    def insert(tx, pid, decision):
        tx._x("INSERT INTO proposals (id, agent, operator, intent, proposal, decision, effect, digest, "
              "policy_revision, inventory_revision, status, envs, created_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              (pid, "a", "", "", "{}", decision, "approve", "d", "p", "i", "pending", "[]", "2026-03-04T12:00:00Z"))
    new = _upgraded(store_url, monkeypatch, 2, lambda tx: (
        insert(tx, "known", '{"impact":{"environments":["prod"],"unknown_targets":[]}}'),
        insert(tx, "unknown", '{"impact":{"environments":[],"unknown_targets":["<opaque: x>"]}}'),
        insert(tx, "quoted", '{"explanation":"\\"unknown_targets\\":[]","impact":{"unknown_targets":["y"]}}')))
    try:
        got = new.read(lambda tx: {p: tx.get_proposal(p)["unknown_env"] for p in ("known", "unknown", "quoted")})
        assert got == {"known": False, "unknown": True, "quoted": True}
    finally:
        new.close()


def test_redeemed_grant_of_a_proposal(store):
    store.transact(lambda tx: (tx.insert_proposal(proposal_row("p1")), tx.insert_grant(grant_row("g1", "p1")),
                               tx.insert_grant(grant_row("g2", "p1"))))
    assert store.read(lambda tx: tx.redeemed_grant("p1")) is None
    assert store.transact(lambda tx: tx.redeem_grant("g2", "d-p1", T0))
    assert store.read(lambda tx: tx.redeemed_grant("p1"))["id"] == "g2"
    assert store.read(lambda tx: tx.redeemed_grant("p2")) is None


# kill switch --------------------------------------------------------------------------------
def test_kill_switch_read_back(store, open_replica):
    assert store.kill_switches() == {}
    store.transact(lambda tx: tx.set_kill_switch("global", True, "alice", "incident 42", T0))
    store.transact(lambda tx: tx.set_kill_switch("agent:kiro", True, "bob", "runaway", T0))
    store.transact(lambda tx: tx.set_kill_switch("global", False, "carol", "resolved", T0 + timedelta(hours=1)))
    replica = open_replica()
    for switches in (replica.kill_switches(), store.read(lambda tx: tx.kill_switches())):
        assert switches == {
            "global": {"engaged": False, "by": "carol", "reason": "resolved", "at": T0 + timedelta(hours=1)},
            "agent:kiro": {"engaged": True, "by": "bob", "reason": "runaway", "at": T0},
        }


# budgets --------------------------------------------------------------------------------------
def test_take_budget_basic(store):
    assert store.transact(lambda tx: tx.take_budget("agent:a:hour", 3, 5)) is True
    assert store.transact(lambda tx: tx.take_budget("agent:a:hour", 3, 5)) is False
    assert store.transact(lambda tx: tx.take_budget("agent:a:hour", 2, 5)) is True
    assert store.transact(lambda tx: tx.take_budget("agent:a:hour", 0.5, 5)) is False
    assert store.transact(lambda tx: tx.take_budget("cost:day", 12.25, 100.0)) is True
    assert store.read(lambda tx: tx.budget("agent:a:hour")) == 5
    assert store.read(lambda tx: tx.budget("cost:day")) == 12.25
    assert store.read(lambda tx: tx.budget("never")) == 0


def _hammer_budget(stores, threads: int = 32, tries: int = 8, limit: int = 50) -> int:
    """Every thread keeps asking for one more unit; returns how many were accepted."""
    def client(i):
        s = stores[i % len(stores)]
        return sum(s.transact(lambda tx: tx.take_budget("env:prod:changes", 1, limit)) for _ in range(tries))
    return sum(run_threads(threads, client))


def test_take_budget_exact_under_32_threads(store):
    assert _hammer_budget([store]) == 50                       # 256 tries for 50 units: exactly 50
    assert store.read(lambda tx: tx.budget("env:prod:changes")) == 50


def test_take_budget_exact_across_two_replicas(store, open_replica):
    replicas = [store, open_replica()]
    assert _hammer_budget(replicas) == 50
    assert replicas[1].read(lambda tx: tx.budget("env:prod:changes")) == 50


# transactions ---------------------------------------------------------------------------------
def test_transact_returns_and_rolls_back_on_exception(store):
    assert store.transact(lambda tx: 42) == 42

    def fails(tx):
        tx.insert_proposal(proposal_row("p1"))
        tx.audit("proposal", "agent-a", {"id": "p1"}, T0)
        tx.take_budget("k", 1, 10)
        raise RuntimeError("policy evaluation raised")
    with pytest.raises(RuntimeError, match="policy evaluation raised"):
        store.transact(fails)
    assert store.read(lambda tx: tx.get_proposal("p1")) is None
    assert store.read(lambda tx: tx.budget("k")) == 0
    assert store.audit_head() == (0, GENESIS) and all_records(store) == []


def test_savepoints_isolate_works_within_one_batch(store):
    def good(i):
        def work(tx):
            tx.insert_proposal(proposal_row(f"p{i}"))
            return tx.audit("proposal", "agent-a", {"i": i}, T0).seq
        return work

    def bad(i):
        def work(tx):
            tx.insert_proposal(proposal_row(f"p{i}"))
            tx.audit("proposal", "agent-a", {"i": i}, T0)
            raise ValueError(f"bad {i}")
        return work

    def audit_only_bad(tx):
        tx.audit("proposal", "agent-a", {"never": True}, T0)
        raise KeyError("no statement ran")

    works = [good(0), bad(1), good(2), audit_only_bad, bad(4), good(5), good(6)]
    out = batch_of(store, works)
    assert isinstance(out[1], ValueError) and isinstance(out[4], ValueError) and isinstance(out[3], KeyError)
    good_seqs = [out[i] for i in (0, 2, 5, 6)]
    assert sorted(good_seqs) == [1, 2, 3, 4]                 # no gaps where a work was undone
    ids = {p["id"] for p in store.list_proposals()}
    assert ids == {"p0", "p2", "p5", "p6"}
    records = all_records(store)
    assert [r.payload for r in records] == [{"i": i} for i in (0, 2, 5, 6)]
    assert verify(records, head=store.audit_head()).ok


def test_failed_commit_fails_every_caller_of_the_batch(store):
    def good(i):
        def work(tx):
            tx.insert_proposal(proposal_row(f"p{i}"))
            return tx.audit("proposal", "agent-a", {"i": i}, T0)
        return work

    def poison(tx):
        # a deferred foreign key is checked only at COMMIT: the whole batch's commit fails
        tx._x("CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY)")
        tx._x("CREATE TEMP TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
        tx._x("INSERT INTO child (pid) VALUES (1)")
        return "looked fine"

    out = batch_of(store, [good(0), good(1), poison, good(3)])
    assert all(isinstance(o, StoreError) for o in out), out
    assert store.list_proposals() == [] and store.audit_head() == (0, GENESIS)
    assert store.transact(good(9)).seq == 1                    # the store goes on afterwards


def test_reads_cannot_write(store):
    with pytest.raises(StoreError):
        store.read(lambda tx: tx.audit("x", "y", {}, T0))
    with pytest.raises(StoreError):
        store.read(lambda tx: tx.insert_proposal(proposal_row("p1")))
    assert store.list_proposals() == []


def test_nested_transact_is_refused(store):
    with pytest.raises(StoreError):
        store.transact(lambda tx: store.transact(lambda inner: 1))


def test_closed_store_refuses(open_replica):
    s = open_replica()
    s.close()
    with pytest.raises(StoreError):
        s.transact(lambda tx: tx.audit("x", "y", {}, T0))


# audit chain ----------------------------------------------------------------------------------
def test_audit_append_and_read(store):
    recs = store.transact(lambda tx: [tx.audit("proposal", "agent-a", {"n": 1, "intent": "ünïcode ☃"}, T0),
                                      tx.audit("decision", "system", {"n": 2}, T0 + timedelta(seconds=1))])
    assert [r.seq for r in recs] == [1, 2] and recs[0].prev_hash == GENESIS and recs[1].prev_hash == recs[0].hash
    assert store.audit_head() == (2, recs[1].hash)
    stored = all_records(store)
    assert stored == recs
    assert store.audit_records(after_seq=1, limit=5) == recs[1:]
    assert store.audit_records(after_seq=0, limit=1) == recs[:1]
    with pytest.raises(StoreError):
        store.transact(lambda tx: tx.audit("x", "y", {"bad": float("nan")}, T0))
    assert store.audit_head()[0] == 2


def test_audit_chain_continuous_across_concurrent_writers(store):
    def writer(i):
        for j in range(25):
            store.transact(lambda tx: [tx.audit("proposal", f"agent-{i}", {"i": i, "j": j, "k": k}, T0)
                                       for k in range(1 + (i + j) % 3)])
    run_threads(12, writer)
    records = all_records(store)
    expected = sum(1 + (i + j) % 3 for i in range(12) for j in range(25))
    assert [r.seq for r in records] == list(range(1, expected + 1))
    assert verify(records, head=store.audit_head()).ok


def test_audit_chain_continuous_across_two_replicas(store, open_replica):
    replicas = [store, open_replica()]

    def writer(i):
        for j in range(30):
            replicas[i % 2].transact(lambda tx: tx.audit("decision", f"replica-{i % 2}", {"i": i, "j": j}, T0))
    run_threads(8, writer)
    records = replicas[1].audit_records(limit=10_000)
    assert [r.seq for r in records] == list(range(1, 241))
    assert {r.actor for r in records} == {"replica-0", "replica-1"}
    result = verify(records, head=store.audit_head())
    assert result.ok, result.problems


def test_checkpoints_roundtrip(store):
    assert store.checkpoints() == []
    cp = {"size": 0, "root": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
          "at": T0, "sig": "c2ln"}
    store.save_checkpoint(cp)
    store.save_checkpoint({**cp, "size": 3})
    got = store.checkpoints()
    assert [c["size"] for c in got] == [0, 3]
    assert got[0]["at"] == "2026-03-04T12:00:00.000000+00:00" and got[0]["sig"] == "c2ln"
    assert store.latest_checkpoint()["size"] == 3


def test_no_latest_checkpoint_when_none_saved(store):
    assert store.latest_checkpoint() is None


# awaiting the commit on an event loop ----------------------------------------------------------
def test_transact_async_from_many_coroutines(store):
    def work(i):
        def run(tx):
            tx.insert_proposal(proposal_row(f"p{i}"))
            if i % 5 == 4:
                raise ValueError(f"bad {i}")
            return tx.audit("proposal", "agent-a", {"i": i}, T0).seq
        return run

    async def main():
        return await asyncio.gather(*(store.transact_async(work(i)) for i in range(40)), return_exceptions=True)
    out = asyncio.run(main())
    assert [type(o) for o in out[4::5]] == [ValueError] * 8
    assert sorted(o for o in out if isinstance(o, int)) == list(range(1, 33))
    assert len(store.list_proposals(limit=100)) == 32
    assert verify(all_records(store), head=store.audit_head()).ok


# kill switches read inside a write batch ------------------------------------------------------
def test_kill_switches_read_in_a_batch_never_show_a_rolled_back_change(store):
    def engage_then_fail(tx):
        tx.set_kill_switch("global", True, "bob", "drill", T0)
        assert tx.kill_switches()["global"]["engaged"] is True      # its own change, before it fails
        raise ValueError("undone")

    def read(tx):
        return tx.kill_switches()

    out = batch_of(store, [read, engage_then_fail, read, read, read])     # in whatever order they queue
    assert isinstance(out[1], ValueError) and [out[i] for i in (0, 2, 3, 4)] == [{}] * 4

    def engage_and_read(tx):
        tx.set_kill_switch("agent:kiro", True, "bob", "runaway", T0)
        return sorted(k for k, v in tx.kill_switches().items() if v["engaged"])
    assert store.transact(engage_and_read) == ["agent:kiro"]
    assert list(store.transact(read)) == ["agent:kiro"]


def test_state_change_and_its_audit_record_commit_together(store):
    def work(tx):
        tx.insert_proposal(proposal_row("p1"))
        return tx.audit("proposal", "agent-a", {"proposal_id": "p1"}, T0)
    rec = store.transact(work)
    assert store.read(lambda tx: tx.get_proposal("p1")) is not None
    assert all_records(store) == [rec]


def test_reload_generation_counts_every_bump_from_every_replica(store, open_replica):
    assert store.reload_generation() == 0
    other = open_replica()
    assert store.transact(lambda tx: tx.bump_reload_generation()) == 1
    assert other.transact(lambda tx: tx.bump_reload_generation()) == 2
    assert store.reload_generation() == other.reload_generation() == 2
