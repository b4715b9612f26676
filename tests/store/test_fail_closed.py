"""Fail closed: when the database cannot durably write, transact raises StoreError and
nothing of the refused work is kept (real databases: an unwritable file, a stopped server)."""
from __future__ import annotations

import os
import stat
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

from blastwall.store.base import StoreError
from blastwall.store.postgres import PostgresStore
from blastwall.store.sqlite import SqliteStore
from tests.store.conftest import require_pg_bindir
from tests.store.pgserver import PgServer

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


def decide_and_record(pid: str):
    def work(tx):
        tx.insert_proposal({"id": pid, "agent": "agent-a", "operator": "", "intent": "",
                            "proposal": {}, "decision": {}, "effect": "allow", "digest": "d",
                            "status": "allowed", "created_at": T0})
        return tx.audit("decision", "system", {"proposal_id": pid}, T0)
    return work


@contextmanager
def unwritable(db: Path):
    """Make the database (and its WAL) unwritable.  Root ignores permission bits, so as root
    the files are made immutable (chattr +i), which also stops writes through open files;
    otherwise they are made read-only, which only new connections see.  Yields whether the
    store must be reopened to notice."""
    files = [p for p in (db, Path(f"{db}-wal")) if p.exists()]
    if os.geteuid() == 0:
        done = []
        try:
            for p in files:
                r = subprocess.run(["chattr", "+i", str(p)], capture_output=True, text=True)
                if r.returncode != 0:
                    pytest.skip(f"cannot make a file unwritable for root here (chattr: {r.stderr.strip()})")
                done.append(p)
            yield False
        finally:
            for p in done:
                subprocess.run(["chattr", "-i", str(p)], check=True)
    else:
        modes = {p: p.stat().st_mode for p in [*files, db.parent]}
        try:
            for p in files:
                p.chmod(stat.S_IRUSR | stat.S_IRGRP)
            db.parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
            yield True
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def test_sqlite_unwritable_database_fails_closed(tmp_path):
    db = tmp_path / "store.db"
    store = SqliteStore(db)
    store.migrate()
    first = store.transact(decide_and_record("p1"))
    try:
        with unwritable(db) as reopen:
            target = SqliteStore(db) if reopen else store
            try:
                for attempt in range(2):                       # and again: no half-state in between
                    with pytest.raises(StoreError):
                        target.transact(decide_and_record(f"refused-{attempt}"))
            finally:
                if target is not store:
                    target.close()
        # writable again: the refused works left nothing, the chain goes on from where it was
        assert store.audit_head() == (1, first.hash)
        assert [p["id"] for p in store.list_proposals()] == ["p1"]
        assert store.transact(decide_and_record("p2")).seq == 2
    finally:
        store.close()


def test_sqlite_missing_directory_fails_closed(tmp_path):
    store = SqliteStore(tmp_path / "no" / "such" / "dir.db")
    try:
        with pytest.raises(StoreError):
            store.transact(decide_and_record("p1"))
        with pytest.raises(StoreError):
            store.migrate()
    finally:
        store.close()


def eventually(fn, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def own_pg_server():
    """A server of our own: these tests stop it."""
    server = PgServer(require_pg_bindir())
    server.start()
    yield server
    server.destroy()


def test_postgres_stopped_server_fails_closed(own_pg_server):
    server = own_pg_server
    store = PostgresStore(server.create_schema("stopped"), timeout=1)
    try:
        store.migrate()
        first = store.transact(decide_and_record("p1"))
        server.stop()
        for attempt in range(2):
            with pytest.raises(StoreError):
                store.transact(decide_and_record(f"refused-{attempt}"))
        with pytest.raises(StoreError):
            store.audit_head()
        server.start()                                        # same data directory
        assert store.transact(decide_and_record("p2")).seq == 2   # the writer reconnects at once
        assert eventually(store.audit_head)[0] == 2           # reads: after the pool's reconnect backoff
        assert sorted(p["id"] for p in store.list_proposals()) == ["p1", "p2"]
        assert store.audit_records(limit=10)[0] == first
    finally:
        store.close()


def test_postgres_crash_loses_no_acknowledged_record(own_pg_server):
    """Immediate shutdown (no checkpoint, like a power cut for the server): what transact
    acknowledged is there after restart, and the chain verifies."""
    from blastwall.audit.chain import verify
    server = own_pg_server
    store = PostgresStore(server.create_schema("crashed"), timeout=1)
    try:
        store.migrate()
        acked = [store.transact(decide_and_record(f"p{i}")) for i in range(20)]
        server.stop(immediate=True)
        server.start()
        records = eventually(lambda: store.audit_records(limit=100))
        assert records == acked and verify(records, head=store.audit_head()).ok
    finally:
        store.close()
