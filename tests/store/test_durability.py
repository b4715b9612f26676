"""Durability settings, and no acknowledged append lost when the writing process is SIGKILLed."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

from blastwall.audit.chain import verify
from blastwall.store.base import open_store
from blastwall.store.sqlite import SqliteStore

WRITER = textwrap.dedent("""
    import sys, threading
    from datetime import datetime, timezone
    from blastwall.store.base import open_store
    store = open_store(sys.argv[1])
    lock = threading.Lock()
    def client(i):
        while True:
            rec = store.transact(lambda tx: tx.audit("decision", f"agent-{i}", {"i": i}, datetime.now(timezone.utc)))
            with lock:
                sys.stdout.write(f"{rec.seq} {rec.hash}\\n")
                sys.stdout.flush()
    for i in range(16):
        threading.Thread(target=client, args=(i,), daemon=True).start()
    threading.Event().wait()
""")


def test_sqlite_runs_wal_with_synchronous_full(tmp_path):
    store = SqliteStore(tmp_path / "d.db")
    store.migrate()
    try:
        got = store.transact(lambda tx: (tx._x("PRAGMA journal_mode").fetchone()[0],
                                         tx._x("PRAGMA synchronous").fetchone()[0],
                                         tx._x("PRAGMA busy_timeout").fetchone()[0]))
        assert got[0] == "wal" and got[1] == 2 and got[2] > 0          # 2 = FULL
    finally:
        store.close()


def test_sigkill_loses_no_acknowledged_append(store_url, open_replica, rounds=4):
    open_replica().close()                                               # migrated
    acked: dict[int, str] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, store_url], stdout=subprocess.PIPE, env=env, text=True)
        want, deadline = random.randint(20, 300), time.monotonic() + 60
        seen = 0
        while seen < want and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seq, h = line.split()
            acked[int(seq)] = h
            seen += 1
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert seen == want, "the writer process produced too little"
    store = open_store(store_url)
    try:
        records = {r.seq: r.hash for r in store.audit_records(limit=1_000_000)}
        assert all(records.get(seq) == h for seq, h in acked.items())
        assert verify(store.audit_records(limit=1_000_000), head=store.audit_head()).ok
    finally:
        store.close()


def test_the_wal_is_copied_back_beside_the_writer_not_in_a_commit(tmp_path):
    """The writer connection checkpoints only past 64 MiB of WAL; a checkpointer thread on its
    own connection copies pages back meanwhile, so the database file grows while we write."""
    from datetime import datetime, timezone
    from blastwall.store import sqlite as backend
    path = tmp_path / "bw.db"
    store = SqliteStore(path)
    store.migrate()
    try:
        before = path.stat().st_size
        blob = "x" * 4000
        for i in range(300):                                        # ~1.2 MB of WAL, far below 64 MiB
            store.transact(lambda tx: tx.audit("note", "me", {"i": i, "blob": blob}, datetime.now(timezone.utc)))
        conn = store._writer._conn
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == backend.WRITER_AUTOCHECKPOINT
        deadline = time.monotonic() + 10
        while path.stat().st_size < before + 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= before + 1_000_000            # pages copied back by the checkpointer
    finally:
        store.close()
    assert not any(t.name == "blastwall-checkpointer" and t.is_alive() for t in __import__("threading").enumerate())
    assert not os.path.exists(f"{path}-wal")      # every connection closed, the checkpointer's too: WAL folded in


def test_the_wal_starts_over_under_a_steady_stream_of_commits(tmp_path, monkeypatch):
    """With commits always in flight no write begins on a fully copied WAL, so nothing would start
    it over before the writer's own automatic checkpoint (made unreachable here).  The checkpointer
    asks the writer to finish the copy between batches (WalRestart), and the WAL starts over while
    the commits go on; every record is kept and the chain verifies."""
    import threading
    from datetime import datetime, timezone
    from blastwall.store import sqlite as backend
    monkeypatch.setattr(backend, "WRITER_AUTOCHECKPOINT", 1_000_000)
    monkeypatch.setattr(backend, "RESTART_FRAMES", 64)
    monkeypatch.setattr(backend, "CHECKPOINT_EVERY_S", 0.02)
    path = tmp_path / "bw.db"
    store = SqliteStore(path)
    store.migrate()
    wal, salts, stop, written = f"{path}-wal", set(), threading.Event(), [0]

    def agent(k: int) -> None:
        while not stop.is_set():
            store.transact(lambda tx: tx.audit("note", f"agent-{k}", {"blob": "x" * 2000}, datetime.now(timezone.utc)))
            written[0] += 1
    threads = [threading.Thread(target=agent, args=(k,)) for k in range(4)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if os.path.exists(wal):                   # from the first write on
                with open(wal, "rb") as f:
                    header = f.read(24)
                if len(header) == 24:
                    salts.add(header[16:24])          # the header's salts change when the WAL starts over
            time.sleep(0.005)
    finally:
        stop.set()
        for t in threads:
            t.join()
    try:
        assert written[0] > 200 and len(salts) >= 3
        result = verify(store.audit_records(limit=1_000_000), head=store.audit_head())
        assert result.ok and result.size == written[0]
    finally:
        store.close()
