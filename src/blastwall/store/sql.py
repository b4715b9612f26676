"""SQL shared by the SQLite and PostgreSQL backends: schema migrations, the Tx
implementation and the convenience reads, written once.  A ``Dialect`` holds the
few differences (placeholders, BEGIN flavour, row locks, identity columns, errors).

Conventions: times are ISO-8601 UTC text (``audit.chain.iso``: sorts as text),
JSON is canonical text, booleans are 0/1 integers; rows come back decoded.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

from blastwall.audit.chain import GENESIS, canonical, canonical_text, iso, make_record, parse_iso
from blastwall.store.base import AuditRecord, StoreConflict, StoreError, Tx, Work, request_as_of
from blastwall.store.remote import RemoteWriter, Unreachable, WriterServer


@dataclass(frozen=True)
class Dialect:
    name: str
    param: str                         # "?" (sqlite3) or "%s" (psycopg)
    begin_write: str                   # takes the write lock, or at least starts the transaction
    begin_read: str
    for_update: str                    # row-lock suffix for SELECT ("" where BEGIN IMMEDIATE locks all)
    serial_pk: str                     # an auto-numbered primary key column
    clustered: str                     # after CREATE TABLE: store the rows in primary-key order
    pending_requests: str              # approval_requests r, read through approval_requests_pending
    migration_lock: str | None         # run first in the migration transaction
    errors: tuple[type[BaseException], ...]
    conflicts: tuple[type[BaseException], ...]
    fatal: tuple[type[BaseException], ...]    # after these the writer starts on a fresh connection

    def q(self, sql: str) -> str:
        return _placeholders(sql, self.param)


@lru_cache(maxsize=256)
def _placeholders(sql: str, param: str) -> str:
    return sql if param == "?" else sql.replace("?", param)


# schema ----------------------------------------------------------------------------
# Each step: (version, description, statements).  Append new steps; never edit old ones.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "initial schema", [
        """CREATE TABLE audit_log (seq BIGINT PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL,
             actor TEXT NOT NULL, payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
        # the chain head: one row, locked by every writer (serialises appends across replicas)
        """CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL,
             hash TEXT NOT NULL)""",
        f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
        """CREATE TABLE checkpoints (id {serial_pk}, size BIGINT NOT NULL, root TEXT NOT NULL,
             at TEXT NOT NULL, doc TEXT NOT NULL)""",
        """CREATE TABLE proposals (id TEXT PRIMARY KEY, agent TEXT NOT NULL, operator TEXT,
             intent TEXT, proposal TEXT NOT NULL, decision TEXT NOT NULL, effect TEXT NOT NULL,
             digest TEXT NOT NULL, policy_revision TEXT, inventory_revision TEXT,
             status TEXT NOT NULL, envs TEXT NOT NULL, created_at TEXT NOT NULL)""",
        "CREATE INDEX proposals_status ON proposals (status, created_at)",
        "CREATE INDEX proposals_agent ON proposals (agent, created_at)",
        """CREATE TABLE approval_requests (id TEXT PRIMARY KEY, proposal_id TEXT NOT NULL,
             digest TEXT NOT NULL, approvers INTEGER NOT NULL, scope TEXT NOT NULL,
             state TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
             emergency INTEGER NOT NULL)""",
        "CREATE INDEX approval_requests_state ON approval_requests (state, created_at)",
        """CREATE TABLE reviews (id {serial_pk}, request_id TEXT NOT NULL, reviewer TEXT NOT NULL,
             verdict TEXT NOT NULL, accepted INTEGER NOT NULL, reason TEXT, at TEXT NOT NULL)""",
        "CREATE INDEX reviews_request ON reviews (request_id)",
        """CREATE TABLE grants (id TEXT PRIMARY KEY, proposal_id TEXT NOT NULL, request_id TEXT,
             digest TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
             redeemed_at TEXT, void_reason TEXT)""",
        "CREATE INDEX grants_proposal ON grants (proposal_id)",
        """CREATE TABLE kill_switches (switch TEXT PRIMARY KEY, engaged INTEGER NOT NULL,
             by_principal TEXT NOT NULL, reason TEXT, at TEXT NOT NULL)""",
        "CREATE TABLE budgets (key TEXT PRIMARY KEY, n DOUBLE PRECISION NOT NULL)",
    ]),
    (2, "find the live approval request of a digest", [
        "CREATE INDEX approval_requests_digest ON approval_requests (digest, state)",
        "CREATE INDEX grants_request ON grants (request_id)",
    ]),
    # envs lists only the environments of known targets: a change with targets the inventory does
    # not know may touch any environment, so every env:NAME kill switch covers it (void_grants).
    # Rows recorded before: marked when their decision names any unknown target (fail closed).
    (3, "mark proposals whose environments cannot all be known", [
        "ALTER TABLE proposals ADD COLUMN unknown_env INTEGER NOT NULL DEFAULT 0",
        """UPDATE proposals SET unknown_env = 1 WHERE decision NOT LIKE '%"unknown_targets":[]%'""",
    ]),
    # every reload bumps the one generation; each service process follows a bump it did not make
    (4, "reload generation shared by replicas", [
        "CREATE TABLE reload_generation (id INTEGER PRIMARY KEY, generation BIGINT NOT NULL)",
    ]),
    # expired requests stay 'pending'; without expires_at in the index, finding the live request of
    # a digest read every request ever filed for it (an agent retrying for an hour: ~1.5 ms a proposal)
    (5, "find live approval requests without reading expired ones", [
        "CREATE INDEX approval_requests_live ON approval_requests (digest, state, expires_at)",
        "DROP INDEX approval_requests_digest",
    ]),
    # Any index keyed by digest takes its inserts all over the file; with one entry per request
    # ever filed, a checkpoint wrote ~1,000 scattered pages a second at 2,000 proposals/s, and on
    # a grown database that set p99 (35 against 14 ms without it).  open_digest is the digest
    # while a request may still be live, NULL once it cannot be: a newer request for the same
    # digest finds it expired, it was vetoed, or its grant was spent or voided (an approved one
    # whose grant lapsed unused stays, at the pace humans approve).  The partial index holds only
    # those, a few pages.  Rows from before: those not yet expired when the newest was filed.
    (6, "index only the approval requests that may still be live", [
        "ALTER TABLE approval_requests ADD COLUMN open_digest TEXT",
        """UPDATE approval_requests SET open_digest = digest WHERE state = 'approved'
             OR (state = 'pending' AND expires_at > (SELECT MAX(created_at) FROM approval_requests))""",
        """CREATE INDEX approval_requests_open ON approval_requests (open_digest, approvers, emergency)
             WHERE open_digest IS NOT NULL""",
        "DROP INDEX approval_requests_live",
    ]),
    # An (agent, ...) index takes each insert at one of as many places as there are agents, so
    # every checkpoint rewrote one page per agent active in it (~64 at 2,000/s), scattered over
    # the file: p99 18.3 against 15.2 ms without it.  A new proposal is queued in
    # proposals_unfiled (appended, no index); the writer files one slot of agents at a time into
    # proposals_by_agent (ProposalFiling), so each agent's page is written about once a second
    # and no batch files more than a tenth of the queue.  Listings read both.
    (7, "file proposals by agent in batches", [
        """CREATE TABLE proposals_by_agent (agent TEXT NOT NULL, created_at TEXT NOT NULL, id TEXT NOT NULL,
             PRIMARY KEY (agent, created_at, id)){clustered}""",
        """CREATE TABLE proposals_unfiled (agent TEXT NOT NULL, created_at TEXT NOT NULL, id TEXT NOT NULL,
             slot INTEGER NOT NULL)""",
        "INSERT INTO proposals_by_agent (agent, created_at, id) SELECT agent, created_at, id FROM proposals",
        "DROP INDEX proposals_agent",
    ]),
    # The requests still pending, by expiry: RequestExpiry finds the overdue ones, and listings
    # and the gauge the live ones, without reading every request that is pending or ever was.
    # Requests share one lifetime, so inserts come in at the end.
    (8, "find pending approval requests by expiry", [
        "CREATE INDEX approval_requests_pending ON approval_requests (expires_at) WHERE state = 'pending'",
    ]),
]

SCHEMA_VERSION_DDL = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, " \
                     "description TEXT NOT NULL, applied_at TEXT NOT NULL)"


def migrate(conn, d: Dialect) -> list[int]:
    """Apply the missing steps in one transaction; returns the versions applied (idempotent,
    safe when several processes migrate at once)."""
    conn.execute(d.begin_write)
    try:
        if d.migration_lock:
            conn.execute(d.migration_lock)
        conn.execute(SCHEMA_VERSION_DDL)
        row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
        current = _first(row) or 0
        applied = []
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            for stmt in statements:
                conn.execute(stmt.format(serial_pk=d.serial_pk, clustered=d.clustered))
            conn.execute(d.q("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)"),
                         (version, description, iso(datetime.now(timezone.utc))))
            applied.append(version)
        conn.execute("COMMIT")
        return applied
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _first(row):
    if row is None:
        return None
    return row[0] if not isinstance(row, dict) else next(iter(row.values()))


# rows ------------------------------------------------------------------------------
JSON_COLS = frozenset({"proposal", "decision", "scope", "envs", "doc", "payload"})
BOOL_COLS = frozenset({"emergency", "accepted", "engaged", "unknown_env"})
TIME_COLS = frozenset({"created_at", "expires_at", "at", "redeemed_at"})


def decode(row) -> dict | None:
    if row is None:
        return None
    out = dict(row)
    out.pop("open_digest", None)            # kept for an index (migration 6), never shown
    for k, v in out.items():
        if v is None:
            continue
        if k in JSON_COLS:
            out[k] = json.loads(v)
        elif k in BOOL_COLS:
            out[k] = bool(v)
        elif k in TIME_COLS:
            out[k] = parse_iso(v)
    return out


def to_record(row) -> AuditRecord:
    r = dict(row)
    return AuditRecord(int(r["seq"]), parse_iso(r["at"]), r["kind"], r["actor"], json.loads(r["payload"]),
                       r["prev_hash"], r["hash"])


def _json(v) -> str:
    return canonical_text(v)


def _doc(v):
    """A JSON document given as a dict or as canonical text (``Canonical``)."""
    if v is None or isinstance(v, dict):
        return v
    return json.loads(canonical_text(v))


def _time(v) -> str | None:
    if v is None:
        return None
    return iso(v) if isinstance(v, datetime) else iso(parse_iso(v))


# the chain head during one write transaction ------------------------------------------
FLUSH_ROWS = 1000          # 7 parameters a row: well under SQLite's and PostgreSQL's limits
_INSERT_AUDIT = "INSERT INTO audit_log (seq, at, kind, actor, payload, prev_hash, hash) VALUES "


class ChainState:
    """Head of the chain for the batch being written; records are inserted at commit time."""

    def __init__(self, seq: int, hash_: str) -> None:
        self.seq, self.hash = seq, hash_
        self.pending: list[tuple] = []       # rows for audit_log
        # kill switches as read in this batch: other writers wait for the head lock, so only
        # this batch can change them (set_kill_switch forgets this copy)
        self.switches: dict[str, dict] | None = None

    def mark(self) -> tuple[int, str, int]:
        return self.seq, self.hash, len(self.pending)

    def reset(self, mark: tuple[int, str, int]) -> None:
        """Forget what a failed work appended (its writes are rolled back to its savepoint)."""
        self.seq, self.hash, n = mark
        del self.pending[n:]
        self.switches = None

    def append(self, kind: str, actor: str, payload: dict, at: datetime) -> AuditRecord:
        rec, at_text, payload_text = make_record((self.seq, self.hash), kind, actor, payload, at)
        self.pending.append((rec.seq, at_text, kind, actor, payload_text, rec.prev_hash, rec.hash))
        self.seq, self.hash = rec.seq, rec.hash
        return rec

    def flush(self, conn, d: Dialect) -> None:
        if not self.pending:
            return
        # multi-row INSERTs: one statement per chunk (executemany steps, and drops the GIL, per row)
        for i in range(0, len(self.pending), FLUSH_ROWS):
            rows = self.pending[i:i + FLUSH_ROWS]
            conn.execute(d.q(_INSERT_AUDIT + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(rows))),
                         [v for row in rows for v in row])
        conn.execute(d.q("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"), (self.seq, self.hash))
        self.pending.clear()


def lock_head(conn, d: Dialect) -> ChainState:
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1" + d.for_update).fetchone()
    if row is None:
        raise StoreError("the audit chain head is missing (database not migrated?)")
    r = dict(row)
    return ChainState(int(r["seq"]), r["hash"])


# filing proposals by agent (migration 7) ----------------------------------------------
FILING_SLOTS = 10


def filing_slot(agent: str) -> int:
    return zlib.crc32(agent.encode("utf-8", "surrogatepass")) % FILING_SLOTS


class ProposalFiling:
    """The writer's upkeep: each call files the next slot's agents, so at one call every EVERY
    seconds each agent is filed about once a second, ~1.2 ms of a batch at 2,000/s (filing all
    at once took 7-13 ms of one batch a second, a stall behind which requests queued)."""
    EVERY = 0.1

    def __init__(self) -> None:
        self.slot = 0

    def __call__(self, tx: "SqlTx") -> None:
        slot, self.slot = self.slot, (self.slot + 1) % FILING_SLOTS
        tx.file_proposals(slot)

    def attach(self, store) -> "ProposalFiling":
        store.add_upkeep(self, self.EVERY)
        return self


# the transaction ---------------------------------------------------------------------
class SqlTx(Tx):
    """One caller's work.  Its first statement opens a savepoint (write batches only), so a
    failing work is undone alone; pure audit appends need no statement until commit."""

    def __init__(self, conn, d: Dialect, chain: ChainState | None, savepoint: str | None = None) -> None:
        self._conn, self._d, self._chain, self._sp = conn, d, chain, savepoint
        self.savepoint_open = False
        self.closed = False
        self.fatal = False               # an operational error: the connection may be unusable

    def _x(self, sql: str, params: tuple = ()):
        if self.closed:
            raise StoreError("this transaction is over")
        try:
            if self._sp and not self.savepoint_open:
                self._conn.execute(f"SAVEPOINT {self._sp}")
                self.savepoint_open = True
            return self._conn.execute(self._d.q(sql), params)
        except self._d.conflicts as exc:
            raise StoreConflict(f"conflict: {exc}") from exc
        except self._d.errors as exc:
            self.fatal = self.fatal or isinstance(exc, self._d.fatal)
            raise StoreError(f"{self._d.name}: {exc}") from exc

    def _one(self, sql: str, params: tuple = ()) -> dict | None:
        return decode(self._x(sql, params).fetchone())

    def _all(self, sql: str, params: tuple = ()) -> list[dict]:
        return [decode(r) for r in self._x(sql, params).fetchall()]

    # audit
    def audit(self, kind: str, actor: str, payload: dict, at: datetime) -> AuditRecord:
        if self.closed:
            raise StoreError("this transaction is over")
        if self._chain is None:
            raise StoreError("audit records are written only inside transact()")
        try:
            return self._chain.append(kind, actor, payload, at)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StoreError(f"audit payload is not canonical JSON: {exc}") from exc

    # proposals
    def insert_proposal(self, row: dict) -> None:
        envs, unknown_env = row.get("envs"), row.get("unknown_env")
        if envs is None or unknown_env is None:
            impact = (_doc(row.get("decision")) or {}).get("impact") or {}
            if envs is None:
                envs = impact.get("environments") or []
            if unknown_env is None:                 # fail closed: any unknown target, reads too
                unknown_env = bool(impact.get("unknown_targets"))
        self._x("INSERT INTO proposals (id, agent, operator, intent, proposal, decision, effect, digest, "
                "policy_revision, inventory_revision, status, envs, unknown_env, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["id"], row["agent"], row.get("operator"), row.get("intent"), _json(row["proposal"]),
                 _json(row["decision"]), str(row["effect"]), row["digest"], row.get("policy_revision"),
                 row.get("inventory_revision"), row["status"], _json(sorted(envs)), int(bool(unknown_env)),
                 _time(row["created_at"])))
        self._x("INSERT INTO proposals_unfiled (agent, created_at, id, slot) VALUES (?, ?, ?, ?)",
                (row["agent"], _time(row["created_at"]), row["id"], filing_slot(row["agent"])))

    def file_proposals(self, slot: int | None = None) -> None:
        """Move the queued proposals (of one slot's agents, or all) into the by-agent index
        (migration 7).  Every write batch holds the audit head's lock, so no proposal is queued
        between the two statements."""
        where, params = ("slot = ?", (slot,)) if slot is not None else ("true", ())
        self._x("INSERT INTO proposals_by_agent (agent, created_at, id) SELECT agent, created_at, id "
                f"FROM proposals_unfiled WHERE {where} ON CONFLICT DO NOTHING", params)
        self._x(f"DELETE FROM proposals_unfiled WHERE {where}", params)

    def get_proposal(self, proposal_id: str) -> dict | None:
        return self._one("SELECT * FROM proposals WHERE id = ?", (proposal_id,))

    def set_proposal_status(self, proposal_id: str, status: str) -> None:
        self._x("UPDATE proposals SET status = ? WHERE id = ?", (status, proposal_id))

    # approval requests and reviews
    def insert_request(self, row: dict) -> None:
        key, at = (row["digest"], int(row["approvers"]), int(bool(row.get("emergency", False)))), _time(row["created_at"])
        self._x(_CLOSE_EXPIRED, (*key, at))      # the requests this one succeeds drop out of the open index
        state = row.get("state", "pending")
        self._x("INSERT INTO approval_requests (id, proposal_id, digest, approvers, scope, state, created_at, "
                "expires_at, emergency, open_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["id"], row["proposal_id"], row["digest"], key[1], _json(row.get("scope", {})), state, at,
                 _time(row["expires_at"]), key[2], row["digest"] if state in OPEN_STATES else None))

    def live_request(self, digest: str, approvers: int, emergency: bool, now: datetime) -> str | None:
        """The newest request for this digest still pending, or approved with its grant unused."""
        at = _time(now)
        row = self._one(_LIVE, (digest, int(approvers), int(bool(emergency)), at, at))
        return row["id"] if row else None

    def get_request(self, request_id: str, for_update: bool = False) -> dict | None:
        lock = self._d.for_update if for_update and self._chain is not None else ""
        return self._one("SELECT * FROM approval_requests WHERE id = ?" + lock, (request_id,))

    def set_request_state(self, request_id: str, state: str) -> None:
        open_ = state in OPEN_STATES
        self._x("UPDATE approval_requests SET state = ?, open_digest = CASE WHEN ? THEN open_digest END "
                "WHERE id = ?", (state, open_, request_id))

    def overdue_requests(self, now: datetime, limit: int) -> list[dict]:
        """Requests still marked pending whose expiry has passed, soonest expired first."""
        return self._all(f"SELECT r.* FROM {self._d.pending_requests} WHERE r.state = 'pending' "
                         "AND r.expires_at <= ? ORDER BY r.expires_at, r.id LIMIT ?", (_time(now), int(limit)))

    def expire_requests(self, requests: list[dict]) -> None:
        """Mark these requests (a run's few hundred at most) expired, and their proposals too."""
        marks = ", ".join("?" * len(requests))
        self._x(f"UPDATE approval_requests SET state = 'expired', open_digest = NULL WHERE id IN ({marks})",
                tuple(r["id"] for r in requests))
        self._x(f"UPDATE proposals SET status = 'expired' WHERE id IN ({marks})",
                tuple(r["proposal_id"] for r in requests))

    def insert_review(self, row: dict) -> None:
        self._x("INSERT INTO reviews (request_id, reviewer, verdict, accepted, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                (row["request_id"], row["reviewer"], row["verdict"], int(bool(row["accepted"])), row.get("reason"),
                 _time(row["at"])))

    def reviews(self, request_id: str) -> list[dict]:
        return self._all("SELECT * FROM reviews WHERE request_id = ? ORDER BY id", (request_id,))

    # grants
    def insert_grant(self, row: dict) -> None:
        self._x("INSERT INTO grants (id, proposal_id, request_id, digest, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (row["id"], row["proposal_id"], row.get("request_id"), row["digest"], _time(row["created_at"]),
                 _time(row["expires_at"])))

    def void_grant(self, grant_id: str, reason: str) -> None:
        self._x("UPDATE grants SET void_reason = ? WHERE id = ? AND void_reason IS NULL", (reason, grant_id))
        self._x(_CLOSE_GRANTED, (grant_id,))

    def get_grant(self, grant_id: str) -> dict | None:
        return self._one("SELECT * FROM grants WHERE id = ?", (grant_id,))

    def grant_for_request(self, request_id: str) -> dict | None:
        return self._one("SELECT * FROM grants WHERE request_id = ?", (request_id,))

    def redeemed_grant(self, proposal_id: str) -> dict | None:
        return self._one("SELECT * FROM grants WHERE proposal_id = ? AND redeemed_at IS NOT NULL "
                         "ORDER BY redeemed_at, id LIMIT 1", (proposal_id,))

    def redeem_grant(self, grant_id: str, digest: str, now: datetime) -> bool:
        cur = self._x("UPDATE grants SET redeemed_at = ? WHERE id = ? AND digest = ? AND redeemed_at IS NULL "
                      "AND void_reason IS NULL AND expires_at > ?", (_time(now), grant_id, digest, _time(now)))
        if cur.rowcount != 1:
            return False
        self._x(_CLOSE_GRANTED, (grant_id,))
        return True

    def void_grants(self, reason: str, agent: str | None = None, env: str | None = None) -> int:
        sql = ("SELECT g.id, p.agent, p.envs, p.unknown_env FROM grants g LEFT JOIN proposals p "
               "ON p.id = g.proposal_id WHERE g.redeemed_at IS NULL AND g.void_reason IS NULL")
        rows = self._all(sql + (" AND p.agent = ?" if agent is not None else ""),
                         (agent,) if agent is not None else ())
        # an env switch covers the proposals touching env and those whose environments cannot all
        # be known (unknown targets; no proposal row at all: fail closed)
        ids = [r["id"] for r in rows
               if env is None or env in (r["envs"] or []) or r["unknown_env"] is not False]
        for gid in ids:
            self._x("UPDATE grants SET void_reason = ? WHERE id = ?", (reason, gid))
            self._x(_CLOSE_GRANTED, (gid,))
        return len(ids)

    # kill switch
    def set_kill_switch(self, scope: str, engaged: bool, by: str, reason: str, at: datetime) -> None:
        if self._chain is not None:
            self._chain.switches = None
        self._x("INSERT INTO kill_switches (switch, engaged, by_principal, reason, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (switch) DO UPDATE SET engaged = excluded.engaged, by_principal = excluded.by_principal, "
                "reason = excluded.reason, at = excluded.at", (scope, int(bool(engaged)), by, reason, _time(at)))

    def bump_reload_generation(self) -> int:
        self._x("INSERT INTO reload_generation (id, generation) VALUES (1, 1) ON CONFLICT (id) "
                "DO UPDATE SET generation = reload_generation.generation + 1")
        return int(_first(self._x("SELECT generation FROM reload_generation WHERE id = 1").fetchone()))

    def reload_generation(self) -> int:
        row = self._x("SELECT generation FROM reload_generation WHERE id = 1").fetchone()
        return int(_first(row)) if row is not None else 0

    def kill_switches(self) -> dict[str, dict]:
        chain = self._chain
        if chain is not None and chain.switches is not None:     # read once per write batch
            return {k: dict(v) for k, v in chain.switches.items()}
        switches = {r["switch"]: {"engaged": r["engaged"], "by": r["by_principal"], "reason": r["reason"],
                                  "at": r["at"]} for r in self._all("SELECT * FROM kill_switches ORDER BY switch")}
        if chain is not None:
            chain.switches = {k: dict(v) for k, v in switches.items()}
        return switches

    # limits: create the counter if absent, then one conditional update (a row lock in PostgreSQL)
    def take_budget(self, key: str, amount: float, limit: float) -> bool:
        self._x("INSERT INTO budgets (key, n) VALUES (?, 0) ON CONFLICT (key) DO NOTHING", (key,))
        row = self._x("UPDATE budgets SET n = n + ? WHERE key = ? AND n + ? <= ? RETURNING n",
                      (float(amount), key, float(amount), float(limit))).fetchone()
        return row is not None

    def budget(self, key: str) -> float:
        row = self._one("SELECT n FROM budgets WHERE key = ?", (key,))
        return float(row["n"]) if row else 0.0

    # checkpoints (Store.save_checkpoint goes through transact)
    def save_checkpoint(self, checkpoint: dict) -> None:
        doc = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in checkpoint.items()}
        self._x("INSERT INTO checkpoints (size, root, at, doc) VALUES (?, ?, ?, ?)",
                (int(doc["size"]), doc["root"], _time(doc["at"]), _json(doc)))


# approval_requests_open holds only requests that may still be live (see migration 6)
OPEN_STATES = ("pending", "approved")
_LIVE = ("SELECT r.id FROM approval_requests r LEFT JOIN grants g ON g.request_id = r.id "
         "WHERE r.open_digest = ? AND r.approvers = ? AND r.emergency = ? AND ("
         "(r.state = 'pending' AND r.expires_at > ?) OR (r.state = 'approved' AND g.redeemed_at IS NULL "
         "AND g.void_reason IS NULL AND g.expires_at > ?)) ORDER BY r.created_at DESC LIMIT 1")
_CLOSE_EXPIRED = ("UPDATE approval_requests SET open_digest = NULL WHERE open_digest = ? AND approvers = ? "
                  "AND emergency = ? AND state = 'pending' AND expires_at <= ?")
_CLOSE_GRANTED = ("UPDATE approval_requests SET open_digest = NULL "
                  "WHERE id = (SELECT request_id FROM grants WHERE id = ?)")


# convenience reads, shared by both stores ---------------------------------------------
class SqlReads:
    """Store methods shared by the SQL backends: writes go to the group-commit ``_writer``,
    reads run ``_read(work)`` on a SqlTx outside any caller transaction."""

    _read: Callable[[Callable[[SqlTx], Any]], Any]
    _writer: Any
    _dialect: Dialect
    _remote: RemoteWriter | None = None

    def transact(self, work: Callable[[Any], Any]) -> Any:
        return self._writer.submit(work)

    async def transact_async(self, work: Callable[[Any], Any]) -> Any:
        remote = self._remote
        if remote is not None and isinstance(work, Work) and not remote.broken:
            try:
                return await remote.submit(work)
            except Unreachable:
                pass                    # not sent: committed here instead
        return await self._writer.submit_async(work)

    def add_upkeep(self, work: Callable[[Any], Any], every: float, wake_every: float | None = None,
                   more: Callable[[Any], bool] | None = None) -> None:
        """Run ``work(tx)`` in a write batch every ``every`` seconds (GroupCommitWriter.add_upkeep)."""
        self._writer.add_upkeep(work, every, wake_every, more)

    def share_writer(self, path: str) -> None:
        """Commit ``Work`` through the writer process listening on ``path`` (store/remote.py)."""
        self._remote = RemoteWriter(path)

    def serve_writer(self, path: str):
        """Let other processes commit through this store's writer; returns the WriterServer."""
        return WriterServer(self._writer, path)

    def read(self, work: Callable[[Any], Any]) -> Any:
        return self._read(work)

    def list_proposals(self, status: str | None = None, agent: str | None = None, limit: int = 100) -> list[dict]:
        if agent is None:
            where, params = _where(status=status)
            return self._read(lambda tx: tx._all(f"SELECT * FROM proposals{where} ORDER BY created_at DESC, id "
                                                 "LIMIT ?", (*params, int(limit))))
        where, params = _where(**{"a.agent": agent, "p.status": status})

        def newest(tx, table: str) -> list[dict]:
            return tx._all(f"SELECT p.* FROM {table} a JOIN proposals p ON p.id = a.id{where} "
                           "ORDER BY a.created_at DESC, a.id LIMIT ?", (*params, int(limit)))
        # one read transaction: a filing committed between the two would hide or repeat rows
        rows = self._read(lambda tx: newest(tx, "proposals_by_agent") + newest(tx, "proposals_unfiled"))
        rows.sort(key=lambda p: p["id"])
        rows.sort(key=lambda p: p["created_at"], reverse=True)
        return rows[:int(limit)]

    def list_requests(self, state: str | None = None, limit: int = 100, agent: str | None = None,
                      now: datetime | None = None) -> list[dict]:
        conds, params = _state_as_of(state, now)
        if agent is not None:
            conds, params = [*conds, "p.agent = ?"], [*params, agent]
        where = " WHERE " + " AND ".join(conds) if conds else ""
        table = self._dialect.pending_requests if _PENDING_AT in conds else "approval_requests r"
        join = " JOIN proposals p ON p.id = r.proposal_id" if agent is not None else ""
        rows = self._read(lambda tx: tx._all(f"SELECT r.* FROM {table}{join}{where} "
                                             "ORDER BY r.created_at DESC, r.id LIMIT ?", (*params, int(limit))))
        return rows if now is None else [request_as_of(r, now) for r in rows]

    def count_pending(self, now: datetime) -> int:
        row = self._read(lambda tx: tx._one(f"SELECT COUNT(*) AS n FROM {self._dialect.pending_requests} "
                                            f"WHERE {_PENDING_AT}", (_time(now),)))
        return int(row["n"])

    def kill_switches(self) -> dict[str, dict]:
        return self._read(lambda tx: tx.kill_switches())

    def reload_generation(self) -> int:
        return self._read(lambda tx: tx.reload_generation())

    def audit_records(self, after_seq: int = 0, limit: int = 1000) -> list[AuditRecord]:
        return self._read(lambda tx: [to_record(r) for r in tx._x(
            "SELECT seq, at, kind, actor, payload, prev_hash, hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (int(after_seq), int(limit))).fetchall()])

    def audit_head(self) -> tuple[int, str]:
        row = self._read(lambda tx: tx._one("SELECT seq, hash FROM audit_head WHERE id = 1"))
        if row is None:
            raise StoreError("the audit chain head is missing (database not migrated?)")
        return int(row["seq"]), row["hash"]

    def checkpoints(self) -> list[dict]:
        return self._read(lambda tx: [r["doc"] for r in tx._all("SELECT doc FROM checkpoints ORDER BY id")])

    def latest_checkpoint(self) -> dict | None:
        row = self._read(lambda tx: tx._one("SELECT doc FROM checkpoints ORDER BY id DESC LIMIT 1"))
        return row["doc"] if row else None

    def schema_version(self) -> int:
        """The highest migration applied (0 for an empty database)."""
        try:
            row = self._read(lambda tx: tx._one("SELECT MAX(version) AS v FROM schema_version"))
        except StoreError:
            return 0
        return int(row["v"] or 0) if row else 0


# A pending request past expires_at is expired, though it is recorded so only when RequestExpiry
# or a review gets to it.  The live ones are read through approval_requests_pending (migration 8;
# SQLite's planner, left alone, reads every pending row through the state index).
_PENDING_AT = "r.state = 'pending' AND r.expires_at > ?"
_EXPIRED_AT = "(r.state = 'expired' OR (r.state = 'pending' AND r.expires_at <= ?))"


def _state_as_of(state: str | None, now: datetime | None) -> tuple[list[str], list]:
    if state is None:
        return [], []
    if now is not None and state in ("pending", "expired"):
        return [_PENDING_AT if state == "pending" else _EXPIRED_AT], [_time(now)]
    return ["r.state = ?"], [state]


def _where(**filters) -> tuple[str, tuple]:
    given = [(k, v) for k, v in filters.items() if v is not None]
    if not given:
        return "", ()
    return " WHERE " + " AND ".join(f"{k} = ?" for k, _ in given), tuple(v for _, v in given)
