"""The durable store: one interface, SQLite and PostgreSQL backends.

Every state change goes through ``Store.transact(work)``: ``work(tx)`` runs inside
one durable transaction together with the audit records it appends (``tx.audit``).
If the transaction cannot commit, ``transact`` raises ``StoreError`` and nothing
of it happened: callers refuse the request (never "decided but unrecorded").

Writes from many threads are group-committed: the backend may run several
callers' ``work`` in one database transaction (each in its own savepoint, so one
failing work does not undo the others) and commit once.  ``transact`` returns only
after the commit is durable (SQLite WAL + synchronous=FULL; PostgreSQL fsync).

Rows are plain dicts; JSON columns are stored as text and returned as parsed
objects.  Times are timezone-aware UTC datetimes (stored as ISO-8601 text).

Backends (store/sqlite.py, store/postgres.py; shared SQL in store/sql.py, the writer
in store/writer.py) also offer ``schema_version()`` and ``batches`` (commits so far).
"""
from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TypeVar

from blastwall.errors import BlastwallError

T = TypeVar("T")


def request_as_of(row: dict, now: datetime) -> dict:
    """An approval request as it stands at ``now``: pending past its expiry reads as expired."""
    if row["state"] == "pending" and row["expires_at"] <= now:
        return {**row, "state": "expired"}
    return row


class StoreError(BlastwallError):
    """The store could not read or durably write: the caller must refuse (fail closed)."""
    code = "store_unavailable"


class StoreConflict(StoreError):
    """A write broke a uniqueness rule (e.g. a duplicate id); nothing of that work was kept."""
    code = "store_conflict"


@dataclass(frozen=True)
class AuditRecord:
    seq: int                 # 1, 2, 3, ... no gaps
    at: datetime
    kind: str                # proposal, decision, review, grant, redeem, execution, kill_switch, reload, auth_failure, ...
    actor: str               # principal name, or "system"
    payload: dict            # canonical-JSON-able
    prev_hash: str           # hex sha256 of the previous record ("0"*64 for seq 1)
    hash: str                # hex sha256(prev_hash + canonical JSON of (seq, at, kind, actor, payload))


class Tx(ABC):
    """Domain writes and consistent reads inside one transaction."""

    @abstractmethod
    def audit(self, kind: str, actor: str, payload: dict, at: datetime) -> AuditRecord:
        """Append to the hash chain (serialised across replicas: the chain head is locked)."""

    # proposals ---------------------------------------------------------------
    @abstractmethod
    def insert_proposal(self, row: dict) -> None:
        """row: id, agent, operator, intent, proposal (json), decision (json), effect, digest,
        policy_revision, inventory_revision, status, created_at; optional envs (list of the
        environments it touches, default decision["impact"]["environments"]) and unknown_env
        (bool: its environments cannot all be known, a change with targets the inventory does
        not know; default: decision["impact"]["unknown_targets"] is not empty); both are used by
        void_grants and read back."""

    @abstractmethod
    def get_proposal(self, proposal_id: str) -> dict | None: ...

    @abstractmethod
    def set_proposal_status(self, proposal_id: str, status: str) -> None: ...

    # approval requests and reviews ---------------------------------------------
    @abstractmethod
    def insert_request(self, row: dict) -> None:
        """row: id, proposal_id, digest, approvers (int), scope (json), state ('pending'),
        created_at, expires_at, emergency (bool)."""

    @abstractmethod
    def live_request(self, digest: str, approvers: int, emergency: bool, now: datetime) -> str | None:
        """The newest request for ``digest`` (with that many approvers, emergency or not) that is
        pending and unexpired, or approved with its grant unspent, unvoided and unexpired."""

    @abstractmethod
    def get_request(self, request_id: str, for_update: bool = False) -> dict | None:
        """for_update: lock the row until commit (PostgreSQL SELECT ... FOR UPDATE)."""

    @abstractmethod
    def set_request_state(self, request_id: str, state: str) -> None: ...

    @abstractmethod
    def overdue_requests(self, now: datetime, limit: int) -> list[dict]:
        """Requests still marked pending whose expires_at has passed, soonest expired first."""

    @abstractmethod
    def expire_requests(self, requests: list[dict]) -> None:
        """Mark these requests (rows with id and proposal_id) expired, and their proposals."""

    @abstractmethod
    def insert_review(self, row: dict) -> None:
        """row: request_id, reviewer, verdict ('approve'|'deny'), accepted (bool), reason, at."""

    @abstractmethod
    def reviews(self, request_id: str) -> list[dict]: ...

    # grants --------------------------------------------------------------------
    @abstractmethod
    def insert_grant(self, row: dict) -> None:
        """row: id, proposal_id, request_id, digest, created_at, expires_at."""

    @abstractmethod
    def get_grant(self, grant_id: str) -> dict | None:
        """The grant row plus redeemed_at and void_reason (None while usable)."""

    @abstractmethod
    def void_grant(self, grant_id: str, reason: str) -> None:
        """Void one unvoided grant (it can no longer be redeemed)."""

    @abstractmethod
    def grant_for_request(self, request_id: str) -> dict | None:
        """The grant issued for an approval request, if any."""

    @abstractmethod
    def redeemed_grant(self, proposal_id: str) -> dict | None:
        """A grant of this proposal that was redeemed (the first), or None."""

    @abstractmethod
    def redeem_grant(self, grant_id: str, digest: str, now: datetime) -> bool:
        """Atomically mark redeemed iff unredeemed, not void, unexpired and digest matches."""

    @abstractmethod
    def void_grants(self, reason: str, agent: str | None = None, env: str | None = None) -> int:
        """Void unredeemed grants (all, or of proposals by ``agent`` / touching ``env``).  ``env``
        also covers proposals marked ``unknown_env`` (they may touch any environment)."""

    # kill switch -----------------------------------------------------------------
    @abstractmethod
    def set_kill_switch(self, scope: str, engaged: bool, by: str, reason: str, at: datetime) -> None:
        """scope: 'global', 'agent:NAME' or 'env:NAME'."""

    @abstractmethod
    def kill_switches(self) -> dict[str, dict]:
        """As Store.kill_switches, read inside this transaction."""

    # reloads ---------------------------------------------------------------------
    @abstractmethod
    def bump_reload_generation(self) -> int:
        """Count one more reload (of any process sharing this store); the new generation."""

    @abstractmethod
    def reload_generation(self) -> int:
        """The reloads counted so far (0: none)."""

    # limits ----------------------------------------------------------------------
    @abstractmethod
    def take_budget(self, key: str, amount: float, limit: float) -> bool:
        """Atomically add ``amount`` to counter ``key`` iff the result stays <= ``limit``.
        Exact under concurrency across replicas (row lock / conditional update, never count-then-insert)."""

    @abstractmethod
    def budget(self, key: str) -> float:
        """The counter's current value (0 when never taken)."""


@dataclass(frozen=True)
class Work:
    """A transaction's work as data: ``fn(tx, *args)``, ``fn`` a module-level function and
    ``args`` plain values, so a writer in another process can run it (store/remote.py)."""
    fn: Callable[..., Any]
    args: tuple = ()

    def __call__(self, tx: "Tx") -> Any:
        return self.fn(tx, *self.args)

    def __reduce__(self):
        return Work, (self.fn, self.args)


class Store(ABC):
    backend: str = ""

    @abstractmethod
    def migrate(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def transact(self, work: Callable[[Tx], T]) -> T:
        """Run ``work(tx)`` durably and return its result, or raise what it raised (its writes
        undone).  ``work`` runs on the store's writer thread between other callers' works: keep
        it short, no network or file I/O, and no nested ``transact`` (refused with StoreError).
        Database failures raise StoreError (StoreConflict for a duplicate key)."""

    async def transact_async(self, work: Callable[[Tx], T]) -> T:
        """``transact`` for event-loop callers: awaits the durable commit without holding a thread.
        A ``Work`` may be committed by a writer process shared with other service processes."""
        return await asyncio.to_thread(self.transact, work)

    @abstractmethod
    def read(self, work: Callable[[Tx], T]) -> T:
        """Run read-only ``work`` in a transaction (no audit records)."""

    # convenience reads (outside any caller transaction) ------------------------------
    @abstractmethod
    def list_proposals(self, status: str | None = None, agent: str | None = None, limit: int = 100) -> list[dict]: ...

    @abstractmethod
    def list_requests(self, state: str | None = None, limit: int = 100, agent: str | None = None,
                      now: datetime | None = None) -> list[dict]:
        """Newest first; ``agent``: only requests for that agent's proposals.  With ``now``, a
        pending request past its expiry is listed (and filtered) as expired."""

    @abstractmethod
    def add_upkeep(self, work: Callable[["Tx"], Any], every: float, wake_every: float | None = None,
                   more: Callable[[Any], bool] | None = None) -> None:
        """Run ``work(tx)`` in a write transaction about every ``every`` seconds while writes come
        in, and (``wake_every``) on its own when none came for that long, or after ``every`` when
        ``more(result)`` of the last run said more is waiting; nobody waits for it, and a failed
        run is undone alone and tried again."""

    @abstractmethod
    def count_pending(self, now: datetime) -> int:
        """Approval requests still pending at ``now`` (not past their expiry)."""

    @abstractmethod
    def reload_generation(self) -> int:
        """As Tx.reload_generation, in a read of its own."""

    @abstractmethod
    def kill_switches(self) -> dict[str, dict]:
        """scope -> {engaged, by, reason, at} for every scope ever set."""

    @abstractmethod
    def audit_records(self, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]: ...

    @abstractmethod
    def audit_head(self) -> tuple[int, str]:
        """(last seq, its hash); (0, '0'*64) when empty."""

    @abstractmethod
    def save_checkpoint(self, checkpoint: dict) -> None:
        """checkpoint: size, root, at, sig (see blastwall.audit.checkpoint); kept as given."""

    @abstractmethod
    def checkpoints(self) -> list[dict]:
        """Every saved checkpoint, oldest first."""

    def latest_checkpoint(self) -> dict | None:
        """The newest saved checkpoint, or None."""
        saved = self.checkpoints()
        return saved[-1] if saved else None


def open_store(url: str) -> Store:
    """``sqlite:///path/to.db`` (or a bare path) or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        from blastwall.store.postgres import PostgresStore
        return PostgresStore(url)
    from blastwall.store.sqlite import SqliteStore
    return SqliteStore(url.removeprefix("sqlite:///").removeprefix("sqlite://"))
