"""Proposals are filed by agent in batches (migration 7): a listing by agent gives the same
answer whether a proposal is still queued or already filed, on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blastwall.store.base import StoreError, open_store
from blastwall.store.sql import FILING_SLOTS, ProposalFiling
from blastwall.store.sqlite import SQLITE
from blastwall.store.writer import GroupCommitWriter
from tests.store.test_store_contract import T0, _upgraded, proposal_row
from tests.store.vmsteps import counting_reads, migrated


def _ids(rows) -> list[str]:
    return [r["id"] for r in rows]


def _queued(store) -> int:
    return store.read(lambda tx: tx._one("SELECT COUNT(*) AS n FROM proposals_unfiled"))["n"]


def _file(store) -> None:
    store.transact(lambda tx: tx.file_proposals())


def test_listing_by_agent_reads_queued_and_filed_proposals_alike(store):
    at = [T0 + timedelta(seconds=s) for s in range(6)]
    store.transact(lambda tx: [tx.insert_proposal(proposal_row(f"p{i}", agent=a, status=s, at=at[i]))
                               for i, (a, s) in enumerate([("a", "allowed"), ("b", "denied"), ("a", "denied")])])
    assert _ids(store.list_proposals(agent="a")) == ["p2", "p0"]
    _file(store)
    assert _queued(store) == 0
    assert _ids(store.list_proposals(agent="a")) == ["p2", "p0"]              # the same, filed
    store.transact(lambda tx: [tx.insert_proposal(proposal_row(f"p{i}", agent="a", status="allowed", at=at[i]))
                               for i in (3, 4)])
    assert _ids(store.list_proposals(agent="a")) == ["p4", "p3", "p2", "p0"]  # queued ones first: newer
    assert _ids(store.list_proposals(agent="a", limit=3)) == ["p4", "p3", "p2"]
    assert _ids(store.list_proposals(agent="a", status="allowed")) == ["p4", "p3", "p0"]
    assert _ids(store.list_proposals(agent="a", status="denied", limit=1)) == ["p2"]
    assert store.list_proposals(agent="c") == []
    assert _ids(store.list_proposals(agent="b")) == ["p1"]


def test_a_filing_committed_during_a_listing_neither_hides_nor_repeats_rows(store, monkeypatch):
    """The listing reads the filed table, then the queue: both in one snapshot, on either backend."""
    from blastwall.store import sql
    store.transact(lambda tx: [tx.insert_proposal(proposal_row(f"p{i}", agent="a", at=T0 + timedelta(seconds=i)))
                               for i in range(3)])
    read_all, filed = sql.SqlTx._all, []

    def filing_between(tx, query, params=()):
        rows = read_all(tx, query, params)
        if "FROM proposals_by_agent" in query and not filed:
            filed.append(store.transact(lambda w: w.file_proposals()))     # commits now, from the writer
        return rows
    monkeypatch.setattr(sql.SqlTx, "_all", filing_between)
    assert _ids(store.list_proposals(agent="a")) == ["p2", "p1", "p0"]
    assert filed and _queued(store) == 0


def test_a_status_change_after_filing_shows_in_the_listing(store):
    store.transact(lambda tx: tx.insert_proposal(proposal_row("p1", agent="a", status="pending")))
    _file(store)
    store.transact(lambda tx: tx.set_proposal_status("p1", "approved"))
    assert _ids(store.list_proposals(agent="a", status="approved")) == ["p1"]
    assert store.list_proposals(agent="a", status="pending") == []


def test_filing_takes_one_slot_of_agents_a_call_and_every_agent_in_a_round(store):
    agents = [f"agent-{i}" for i in range(40)]
    store.transact(lambda tx: [tx.insert_proposal(proposal_row(f"p{i}", agent=a)) for i, a in enumerate(agents)])
    filing, left = ProposalFiling(), [_queued(store)]
    for _ in range(FILING_SLOTS):
        store.transact(filing)
        left.append(_queued(store))
    assert left[0] == 40 and left[-1] == 0
    filed_per_call = [a - b for a, b in zip(left, left[1:])]
    assert max(filed_per_call) < 40 and sum(1 for n in filed_per_call if n) >= 3     # spread over the slots
    assert all(_ids(store.list_proposals(agent=a)) == [f"p{i}"] for i, a in enumerate(agents))


def test_the_writer_files_the_queue_on_its_own(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'bw.db'}")
    store.migrate()
    try:
        store.transact(lambda tx: tx.insert_proposal(proposal_row("p1", agent="a")))
        assert _queued(store) == 1
        deadline = time.monotonic() + 10
        while _queued(store) and time.monotonic() < deadline:   # filed with a later batch, once due
            store.transact(lambda tx: None)
            time.sleep(0.05)
        assert _queued(store) == 0
        assert _ids(store.list_proposals(agent="a")) == ["p1"]
    finally:
        store.close()


def test_migration_7_files_the_proposals_recorded_before_it(store_url, monkeypatch):
    def insert(tx, pid, agent, seconds):
        tx._x("INSERT INTO proposals (id, agent, proposal, decision, effect, digest, status, envs, created_at) "
              "VALUES (?, ?, '{}', '{}', 'allow', 'd', 'allowed', '[]', ?)",
              (pid, agent, (T0 + timedelta(seconds=seconds)).isoformat()))
    new = _upgraded(store_url, monkeypatch, 6, lambda tx: (insert(tx, "old1", "a", 1), insert(tx, "old2", "b", 2),
                                                           insert(tx, "old3", "a", 3)))
    try:
        assert _ids(new.list_proposals(agent="a")) == ["old3", "old1"]
        assert _queued(new) == 0
        new.transact(lambda tx: tx.insert_proposal(proposal_row("new", agent="a", at=T0 + timedelta(seconds=4))))
        assert _ids(new.list_proposals(agent="a")) == ["new", "old3", "old1"]
    finally:
        new.close()


# the listing against a plain reading of every proposal, filing at any moment ------------------
_AGENTS = ("a", "b", "c")
_STATUSES = ("allowed", "denied", "pending")
_step = st.one_of(
    st.tuples(st.just("propose"), st.sampled_from(_AGENTS), st.sampled_from(_STATUSES), st.integers(0, 5)),
    st.tuples(st.just("file")),
    st.tuples(st.just("restatus"), st.integers(0, 40), st.sampled_from(_STATUSES)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, max_size=40), agent=st.sampled_from(_AGENTS),
       status=st.none() | st.sampled_from(_STATUSES), limit=st.integers(1, 8))
def test_listing_by_agent_matches_every_proposal_read_plainly(tmp_path_factory, steps, agent, status, limit):
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('filing') / 'bw.db'}")
    store.migrate()
    try:
        made: list[str] = []
        for step in steps:
            if step[0] == "propose":
                _, who, st_, seconds = step       # equal times on purpose: ties are broken by id
                pid = f"p{999 - len(made):03d}"          # newer ids sort first: ties need the id order
                store.transact(lambda tx: tx.insert_proposal(proposal_row(pid, agent=who, status=st_,
                                                                          at=T0 + timedelta(seconds=seconds))))
                made.append(pid)
            elif step[0] == "file":
                _file(store)
            elif made:
                pid = made[step[1] % len(made)]
                store.transact(lambda tx: tx.set_proposal_status(pid, step[2]))
        every = store.list_proposals(limit=1000)
        expected = [p for p in every if p["agent"] == agent and status in (None, p["status"])][:limit]
        assert store.list_proposals(agent=agent, status=status, limit=limit) == expected
    finally:
        store.close()


# the writer's upkeep ------------------------------------------------------------------------
def _writer(path, upkeep, every) -> GroupCommitWriter:
    def connect():
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
        conn.execute("INSERT OR IGNORE INTO audit_head VALUES (1, 0, 'g')")
        return conn
    writer = GroupCommitWriter(connect, SQLITE, "t")
    writer.add_upkeep(upkeep, every)
    return writer


def test_upkeep_runs_in_a_batch_at_most_once_per_interval(tmp_path):
    calls: list[float] = []
    writer = _writer(str(tmp_path / "w.db"), lambda tx: calls.append(time.monotonic()), 0.2)
    try:
        assert writer.submit(lambda tx: "first") == "first"
        assert calls == []                                   # not due yet
        started, before = time.monotonic(), len(calls)
        while time.monotonic() - started < 1.0:
            writer.submit(lambda tx: None)
            time.sleep(0.01)
        assert 2 <= len(calls) - before <= 6                 # about one per 0.2 s, a loaded host allowing
        assert all(b - a >= 0.2 for a, b in zip(calls, calls[1:]))
        before = len(calls)
        time.sleep(0.5)                                      # no batch, no upkeep
        assert len(calls) == before
    finally:
        writer.close()


def test_a_failing_upkeep_fails_no_caller_and_is_undone_alone(tmp_path):
    path = str(tmp_path / "w.db")
    attempts = threading.Semaphore(0)

    def broken(tx):
        tx._x("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        tx._x("INSERT INTO t VALUES (99)")
        attempts.release()
        raise StoreError("upkeep broke")
    writer = _writer(path, broken, 0.05)
    try:
        writer.submit(lambda tx: tx._x("CREATE TABLE t (v INTEGER)"))
        time.sleep(0.1)
        assert writer.submit(lambda tx: tx._x("INSERT INTO t VALUES (1)") and "kept") == "kept"
        assert attempts.acquire(timeout=5)
    finally:
        writer.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT v FROM t").fetchall() == [(1,)]


# what a listing reads ------------------------------------------------------------------------
def test_an_agents_listing_reads_its_own_filed_proposals_not_everyones(tmp_path):
    costs = {}
    for others in (100, 5_000):
        path = tmp_path / f"bw{others}.db"
        store = migrated(path)
        store.transact(lambda tx: [tx.insert_proposal(proposal_row(f"o{i}", agent=f"other-{i % 50}",
                                                                   at=T0 + timedelta(milliseconds=i)))
                                   for i in range(others)])
        store.transact(lambda tx: [tx.insert_proposal(proposal_row(f"m{i}", agent="me",
                                                                   at=T0 + timedelta(seconds=i)))
                                   for i in range(20)])
        _file(store)
        conn, steps = counting_reads(store, path)
        assert _ids(store.list_proposals(agent="me", limit=10)) == [f"m{i}" for i in range(19, 9, -1)]
        costs[others] = steps[0]
        conn.close()
        store.close()
    assert costs[5_000] <= costs[100] * 1.2 + 50, costs


def test_a_failing_upkeep_is_reported_once_while_it_lasts(tmp_path, caplog):
    writer = _writer(str(tmp_path / "w.db"), lambda tx: tx._x("SELECT * FROM no_such_table"), 0.01)
    try:
        with caplog.at_level("WARNING", logger="blastwall.store"):
            for _ in range(20):
                writer.submit(lambda tx: None)
                time.sleep(0.02)
    finally:
        writer.close()
    reports = [r.getMessage() for r in caplog.records if "upkeep" in r.getMessage()]
    assert len(reports) == 1 and "no_such_table" in reports[0] and "<lambda>" in reports[0]


def test_an_upkeep_with_a_wake_up_runs_while_no_work_comes(tmp_path):
    runs = {"wakes": [], "waits": []}
    writer = _writer(str(tmp_path / "w.db"), lambda tx: None, 3600)
    try:
        started = time.monotonic()
        writer.add_upkeep(lambda tx: runs["wakes"].append(time.monotonic()), 0.05, wake_every=0.1)
        time.sleep(0.8)                                      # nothing submitted meanwhile
        assert 3 <= len(runs["wakes"]) <= 9 and runs["wakes"][0] - started < 0.5
    finally:
        writer.close()
    writer = _writer(str(tmp_path / "w2.db"), lambda tx: runs["waits"].append(1), 0.05)
    try:
        time.sleep(0.5)
        assert runs["waits"] == []                           # no wake-up: it waits for a batch
        writer.submit(lambda tx: None)
        assert runs["waits"] == [1]
    finally:
        writer.close()


def _draining(backlog: list[int], runs: list[float]):
    """An upkeep taking two of ``backlog`` a run (noting when), and saying how many it took."""
    def drain(tx):
        runs.append(time.monotonic())
        taken = min(2, backlog[0])
        backlog[0] -= taken
        return taken
    return drain


def test_an_idle_writer_comes_back_after_every_while_the_upkeep_has_a_backlog(tmp_path):
    """A run that says more is waiting is followed after ``every``, not ``wake_every``; once a run
    comes back short, the writer sleeps for ``wake_every`` again."""
    backlog, runs = [5], []
    drain = _draining(backlog, runs)
    writer = _writer(str(tmp_path / "w.db"), lambda tx: None, 3600)
    try:
        writer.add_upkeep(drain, 0.05, wake_every=0.4, more=lambda taken: taken >= 2)
        time.sleep(1.5)                                      # nothing submitted meanwhile
    finally:
        writer.close()
    assert backlog == [0] and len(runs) >= 4                 # 2 + 2 + 1, then 0 on the idle wake-ups
    gaps = [b - a for a, b in zip(runs, runs[1:])]
    assert gaps[0] < 0.25 and gaps[1] < 0.25                 # full runs: back after every (0.05 s)
    assert gaps[2] >= 0.35                                   # a short run: wake_every again


@pytest.mark.parametrize("more, left, ran", [(lambda taken: taken >= 2, 0, 3), (lambda taken: 1 / 0, 3, 1)],
                         ids=["backlog", "more raises"])
def test_a_backlog_wakes_a_writer_without_a_wake_up_and_a_failing_more_does_not(tmp_path, more, left, ran):
    """Without wake_every an idle writer runs an upkeep only for a batch, or while its runs say a
    backlog waits; a ``more`` that fails says no backlog (no writer waking every ``every`` forever)."""
    backlog, runs = [5], []
    drain = _draining(backlog, runs)
    writer = _writer(str(tmp_path / "w.db"), lambda tx: None, 3600)
    try:
        writer.add_upkeep(drain, 0.05, more=more)
        time.sleep(0.1)
        writer.submit(lambda tx: None)                       # one batch, once it is due: the first run
        time.sleep(0.8)                                      # nothing submitted meanwhile
    finally:
        writer.close()
    assert backlog == [left] and len(runs) == ran            # 2 + 2 + 1 and asleep; or 2 and asleep


def test_a_writer_that_cannot_wait_for_work_refuses_writes_instead_of_hanging(tmp_path, monkeypatch, caplog):
    writer = _writer(str(tmp_path / "w.db"), lambda tx: None, 3600)
    try:
        assert writer.submit(lambda tx: "fine") == "fine"
        monkeypatch.setattr(GroupCommitWriter, "_first", lambda self: 1 / 0)
        assert writer.submit(lambda tx: "taken") == "taken"   # taken by the wait already begun; the next fails
        deadline = time.monotonic() + 10
        while writer.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not writer.running
        outcome: list = []

        def write():
            try:
                outcome.append(writer.submit(lambda tx: "never"))
            except StoreError as exc:
                outcome.append(exc)
        attempt = threading.Thread(target=write, daemon=True)
        attempt.start()
        attempt.join(10)                                         # before: it waited for ever
        assert len(outcome) == 1 and isinstance(outcome[0], StoreError) and "closed" in str(outcome[0])
        assert any("store writer stopped" in r.getMessage() for r in caplog.records)
    finally:
        writer.close()


@pytest.mark.parametrize("failure", [MemoryError("no room"), sqlite3.OperationalError("disk I/O error")])
def test_what_fails_after_a_commit_leaves_it_committed_and_the_writer_going(tmp_path, failure, caplog):
    """The after-commit hook runs once the batch is answered: its failure is logged, the connection
    is opened afresh, and neither the committed batch nor the next one is reported as failed."""
    path = str(tmp_path / "w.db")
    opened, hooked = [], []

    def connect():
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY, seq INTEGER, hash TEXT)")
        conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        conn.execute("INSERT OR IGNORE INTO audit_head VALUES (1, 0, 'g')")
        opened.append(conn)
        return conn

    def after(conn):
        hooked.append(conn)
        if len(hooked) == 1:
            raise failure
    writer = GroupCommitWriter(connect, SQLITE, "t", after_commit=after)
    try:
        assert writer.submit(lambda tx: tx._x("INSERT INTO t VALUES (1)") and "first") == "first"
        assert writer.submit(lambda tx: tx._x("INSERT INTO t VALUES (2)") and "second") == "second"
        assert writer.running
    finally:
        writer.close()
    rows = sqlite3.connect(path).execute("SELECT x FROM t ORDER BY x").fetchall()
    assert rows == [(1,), (2,)] and len(opened) == 2 and len(hooked) == 2
    assert any("after a commit" in r.getMessage() for r in caplog.records)
