"""SQLite backend: WAL, synchronous=FULL, busy timeout, one group-commit writer thread.

Writes go through the writer's connection (BEGIN IMMEDIATE: one writer at a time, also
across processes); reads use a small pool of query-only connections (WAL lets them run
beside the writer).
"""
from __future__ import annotations

import os
import queue
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, TypeVar

from blastwall.store.base import Store, StoreError
from blastwall.store.sql import Dialect, ProposalFiling, SqlReads, SqlTx, migrate
from blastwall.store.writer import GroupCommitWriter

try:
    import fcntl
except ImportError:                            # not on this platform
    fcntl = None

T = TypeVar("T")

SQLITE = Dialect(
    name="sqlite", param="?", begin_write="BEGIN IMMEDIATE", begin_read="BEGIN", for_update="",
    serial_pk="INTEGER PRIMARY KEY AUTOINCREMENT", clustered=" WITHOUT ROWID",
    pending_requests="approval_requests r INDEXED BY approval_requests_pending", migration_lock=None,
    errors=(sqlite3.Error,), conflicts=(sqlite3.IntegrityError,),
    fatal=(sqlite3.OperationalError,))

BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY_S = 0.2
WRITER_AUTOCHECKPOINT = 16_384      # pages (64 MiB): the writer checkpoints only if the checkpointer falls behind
RESTART_FRAMES = 8_192              # WAL frames (32 MiB) after which the WAL is started over (WalRestart)


class Checkpointer:
    """Copies the WAL back into the database beside the writer, on its own connection.

    SQLite's automatic checkpoint runs at the end of the commit that passes 1,000 WAL pages:
    measured here it made one commit in ~700 take 10-15 ms, a stall for every request in that
    batch and behind it.  A PASSIVE checkpoint never blocks the writer or readers.

    It cannot let the WAL start over, though: only a write that begins when every frame is
    copied does that, and under load a commit always lands during a checkpoint.  The WAL then
    grew to the writer's own automatic checkpoint (WRITER_AUTOCHECKPOINT), which copied what was
    left and synced the database inside a commit: 12-29 ms, about once a second at 2,000
    proposals/s.  So once the WAL holds RESTART_FRAMES and a run has copied all it saw,
    ``caught_up`` asks the writer to finish the job right after its next commit (WalRestart):
    a few frames, at once, and the next write starts the WAL over."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], caught_up: Callable[[], None] = lambda: None) -> None:
        self._connect, self._caught_up = connect, caught_up
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="blastwall-checkpointer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = None
        try:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                try:
                    conn = conn or self._connect()
                    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:           # busy or gone: the next round (or the writer) does it
                    if conn is not None:
                        conn.close()
                    conn = None
                    continue
                if not busy and frames >= RESTART_FRAMES and copied == frames:
                    self._caught_up()
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class WalRestart:
    """The writer's side of starting the WAL over (see Checkpointer): after a committed batch, when
    the checkpointer has caught up, a PASSIVE checkpoint on the writer's connection copies the
    frames committed since and syncs the database."""

    def __init__(self) -> None:
        self.due = False

    def ask(self) -> None:                      # the checkpointer's thread
        self.due = True

    def __call__(self, conn: sqlite3.Connection) -> None:   # the writer's thread, between batches
        if self.due:
            self.due = False
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


class WriteLock:
    """An exclusive flock on a file beside the database, held for each write batch.  Several
    processes on one database (``serve --workers``) then queue in the kernel and are woken at
    once, instead of retrying BEGIN IMMEDIATE with SQLite's ever longer busy sleeps."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @contextmanager
    def __call__(self):
        if fcntl is None:                      # no flock here: SQLite's own locking alone
            yield
            return
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise StoreError(f"sqlite: cannot open the write lock {self.path}: {exc.strerror}") from None
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SqliteStore(SqlReads, Store):
    backend = "sqlite"
    _dialect = SQLITE

    def __init__(self, path: str | Path, max_batch: int = 2048) -> None:
        self.path = str(path)
        if self.path in ("", ":memory:"):
            raise StoreError("SQLite store needs a file (the writer and readers share it)")
        self._readers: queue.LifoQueue = queue.LifoQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._write_lock = WriteLock(f"{self.path}-writelock")
        self._checkpointer: Checkpointer | None = None
        self._checkpointer_lock = threading.Lock()
        self._closed = False
        self._wal_restart = WalRestart()
        self._writer = GroupCommitWriter(self._connect_writer, SQLITE, Path(self.path).name, max_batch,
                                         batch_lock=self._write_lock, after_commit=self._wal_restart)
        ProposalFiling().attach(self)

    # connections -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return conn

    def _connect_writer(self, checkpoints: bool = True) -> sqlite3.Connection:
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot switch to WAL (journal_mode={mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT}")
        except BaseException:
            conn.close()
            raise
        with self._checkpointer_lock:
            if checkpoints and self._checkpointer is None and not self._closed:
                self._checkpointer = Checkpointer(self._connect_checkpoint, self._wal_restart.ask)
        return conn

    def _connect_checkpoint(self) -> sqlite3.Connection:
        conn = self._connect()
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @contextmanager
    def _reader(self):
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            try:
                conn = self._connect()
                conn.execute("PRAGMA query_only = 1")
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite: cannot open {self.path}: {exc}") from exc
            self._all_readers.append(conn)
        try:
            yield conn
        finally:
            self._readers.put(conn)

    # Store -------------------------------------------------------------------------------
    def migrate(self) -> None:
        try:
            conn = self._connect_writer(checkpoints=False)
            try:
                migrate(conn, SQLITE)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: migration failed on {self.path}: {exc}") from exc

    def _read(self, work: Callable[[SqlTx], T]) -> T:
        with self._reader() as conn:
            tx = SqlTx(conn, SQLITE, chain=None)
            try:
                conn.execute("BEGIN")
                try:
                    return work(tx)
                finally:
                    tx.closed = True
                    conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite: {exc}") from exc

    def save_checkpoint(self, checkpoint: dict) -> None:
        self.transact(lambda tx: tx.save_checkpoint(checkpoint))

    def close(self) -> None:
        self._writer.close()
        with self._checkpointer_lock:
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
        self._write_lock.close()
        for conn in self._all_readers:
            conn.close()
        self._all_readers.clear()

    @property
    def batches(self) -> int:
        """Committed write batches so far (group-commit effectiveness)."""
        return self._writer.batches
