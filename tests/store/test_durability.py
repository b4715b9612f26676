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
