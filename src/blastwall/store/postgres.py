"""PostgreSQL backend (psycopg 3): the same group-commit writer per process, a pool for reads.

Several processes ("replicas") may share one database.  Every write batch starts by
locking the audit chain head row (SELECT ... FOR UPDATE), so appends stay one chain
and write batches are serialised across replicas (no lock-order deadlocks); budgets
use a conditional UPDATE that cannot overshoot.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from blastwall.store.base import Store, StoreError
from blastwall.store.sql import Dialect, ProposalFiling, SqlReads, SqlTx, migrate
from blastwall.store.writer import GroupCommitWriter

T = TypeVar("T")

# Reads see one snapshot (READ COMMITTED gives each statement its own): a listing that reads
# two tables must not miss rows a filing moved between them; a read-only REPEATABLE READ
# transaction never fails to serialize.
POSTGRES = Dialect(
    name="postgresql", param="%s", begin_write="BEGIN",
    begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", for_update=" FOR UPDATE",
    serial_pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", clustered="",
    pending_requests="approval_requests r",
    migration_lock="SELECT pg_advisory_xact_lock(4242017)",
    errors=(psycopg.Error,), conflicts=(psycopg.errors.UniqueViolation,),
    fatal=(psycopg.OperationalError,))

CONNECT_TIMEOUT_S = 5


class PostgresStore(SqlReads, Store):
    backend = "postgresql"
    _dialect = POSTGRES

    def __init__(self, url: str, max_batch: int = 2048, pool_size: int = 8,
                 timeout: float = CONNECT_TIMEOUT_S) -> None:
        """``timeout``: seconds to wait for a connection before failing with StoreError."""
        self.url, self.timeout = url, timeout
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, timeout=timeout, open=True,
                                    check=ConnectionPool.check_connection,
                                    kwargs=self._conn_kwargs(), name="blastwall-read")
        self._writer = GroupCommitWriter(self._connect, POSTGRES, "pg", max_batch)
        ProposalFiling().attach(self)

    def _conn_kwargs(self) -> dict:
        return {"autocommit": True, "row_factory": dict_row, "connect_timeout": max(1, round(self.timeout)),
                "application_name": "blastwall"}

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, **self._conn_kwargs())

    # Store -------------------------------------------------------------------------------
    def migrate(self) -> None:
        try:
            with self._connect() as conn:
                migrate(conn, POSTGRES)
        except psycopg.Error as exc:
            raise StoreError(f"postgresql: migration failed: {exc}") from exc

    def _read(self, work: Callable[[SqlTx], T]) -> T:
        try:
            with self._pool.connection() as conn:
                tx = SqlTx(conn, POSTGRES, chain=None)
                conn.execute(POSTGRES.begin_read)
                try:
                    return work(tx)
                finally:
                    tx.closed = True
                    conn.execute("ROLLBACK")
        except (psycopg.Error, PoolTimeout) as exc:
            raise StoreError(f"postgresql: {exc}") from exc

    def save_checkpoint(self, checkpoint: dict) -> None:
        self.transact(lambda tx: tx.save_checkpoint(checkpoint))

    def close(self) -> None:
        self._writer.close()
        self._pool.close()

    @property
    def batches(self) -> int:
        return self._writer.batches
