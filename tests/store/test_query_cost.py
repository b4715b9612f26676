"""Lookups on the decision path cost the same however much history the store holds (SQLite's
virtual-machine steps counted, not time)."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from blastwall.store.base import open_store
from blastwall.store.sql import _LIVE, _time
from tests.store.vmsteps import counting_reads, migrated

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _requests(store, n: int, digest: str = "d-x") -> None:
    """``n`` requests for one digest, each filed a second after the last with a 1 s lifetime."""
    def write(tx):
        for i in range(n):
            at = T0 + timedelta(seconds=i)
            tx.insert_request({"id": f"r{digest}{i}", "proposal_id": "p", "digest": digest, "approvers": 2,
                               "scope": {}, "state": "pending", "created_at": at,
                               "expires_at": at + timedelta(seconds=1), "emergency": False})
    store.transact(write)


def _steps(path, sql: str, now: datetime) -> int:
    conn = sqlite3.connect(path)
    count = [0]

    def step():
        count[0] += 1
    conn.set_progress_handler(step, 1)
    conn.execute(sql, ("d-x", 2, 0, _time(now), _time(now))).fetchall()
    conn.close()
    return count[0]


def test_finding_the_live_request_does_not_read_expired_ones(tmp_path):
    costs = {}
    for n in (10, 2_000):
        path = str(tmp_path / f"bw{n}.db")
        store = migrated(path)
        for digest in ("d-x", "d-y", "d-z"):
            _requests(store, n, digest)
        live = T0 + timedelta(seconds=n - 0.5)                      # only the newest is still live
        assert store.read(lambda tx: tx.live_request("d-x", 2, False, live)) == f"rd-x{n - 1}"
        later = T0 + timedelta(seconds=n + 5)                       # none is
        assert store.read(lambda tx: tx.live_request("d-x", 2, False, later)) is None
        store.close()
        costs[n] = [_steps(path, _LIVE, now) for now in (live, later)]
        with sqlite3.connect(path) as conn:                     # the open index: what may be live, no more
            assert conn.execute("SELECT COUNT(*) FROM approval_requests WHERE open_digest IS NOT NULL"
                                ).fetchone()[0] == 3
    assert all(big <= small * 1.5 + 20 for big, small in zip(costs[2_000], costs[10])), costs


def test_listing_the_pending_requests_does_not_read_expired_ones(tmp_path):
    costs = {}
    for n in (10, 2_000):
        path = tmp_path / f"bw{n}.db"
        store = migrated(path)
        for digest in ("d-x", "d-y", "d-z"):
            _requests(store, n, digest)
        now = T0 + timedelta(seconds=n - 0.5)                       # the newest of each digest is live
        conn, steps = counting_reads(store, path)
        assert sorted(r["id"] for r in store.list_requests(state="pending", now=now)) == \
            [f"r{d}{n - 1}" for d in ("d-x", "d-y", "d-z")]
        assert store.count_pending(now) == 3
        costs[n] = steps[0]
        conn.close()
        store.close()
    assert costs[2_000] <= costs[10] * 1.5 + 20, costs


def test_finding_overdue_requests_does_not_read_the_live_ones(tmp_path):
    costs = {}
    for n in (10, 2_000):
        path = tmp_path / f"bw{n}.db"
        store = migrated(path)
        store.transact(lambda tx: [tx.insert_request({
            "id": f"r{i}", "proposal_id": f"p{i}", "digest": f"d{i}", "approvers": 1, "scope": {}, "state": "pending",
            "created_at": T0 + timedelta(seconds=i), "expires_at": T0 + timedelta(hours=1, seconds=i),
            "emergency": False}) for i in range(n)])
        now = T0 + timedelta(hours=1, seconds=2.5)                  # r0, r1, r2 are overdue; the rest live
        conn, steps = counting_reads(store, path)
        assert [r["id"] for r in store.read(lambda tx: tx.overdue_requests(now, 100))] == ["r0", "r1", "r2"]
        costs[n] = steps[0]
        conn.close()
        store.close()
    assert costs[2_000] <= costs[10] * 1.5 + 20, costs


def _open(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM approval_requests WHERE open_digest IS NOT NULL")}


def test_a_request_that_cannot_be_live_leaves_the_open_index(tmp_path):
    path = str(tmp_path / "bw.db")
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    for digest in ("d-x", "d-y", "d-z"):
        _requests(store, 1, digest)
    store.transact(lambda tx: tx.set_request_state("rd-x0", "approved"))
    assert _open(path) == {"rd-x0", "rd-y0", "rd-z0"}
    store.transact(lambda tx: tx.set_request_state("rd-x0", "vetoed"))
    for rid, gid in (("rd-y0", "g-y"), ("rd-z0", "g-z")):
        store.transact(lambda tx: (tx.set_request_state(rid, "approved"), tx.insert_grant({
            "id": gid, "proposal_id": "p", "request_id": rid, "digest": "d", "created_at": T0,
            "expires_at": T0 + timedelta(hours=1)})))
    assert store.transact(lambda tx: tx.redeem_grant("g-y", "d", T0 + timedelta(seconds=1)))
    store.transact(lambda tx: tx.void_grant("g-z", "kill switch"))
    store.close()
    assert _open(path) == set()                                  # vetoed, grant spent, grant voided
