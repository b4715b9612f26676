"""What a SQLite read costs, counted in virtual-machine steps (not time): for tests that a lookup
costs the same however much history the store holds."""
from __future__ import annotations

import sqlite3

from blastwall.store.base import open_store
from blastwall.store.sql import SqlTx
from blastwall.store.sqlite import SQLITE


def migrated(path) -> object:
    store = open_store(f"sqlite:///{path}")
    store.migrate()
    return store


def counting_reads(store, path) -> tuple[sqlite3.Connection, list[int]]:
    """Route the store's reads through one connection that counts its steps; (connection, [steps])."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    steps = [0]
    conn.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 1)
    store._read = lambda work: work(SqlTx(conn, SQLITE, chain=None))
    return conn, steps
