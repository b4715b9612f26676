"""The audit hash chain (pure: no I/O).

Record hash = sha256(prev_hash + canonical JSON of {seq, at, kind, actor, payload}),
with prev_hash "0"*64 for seq 1.  Checkpoints commit to the first N record hashes
with an RFC 6962 Merkle tree root, so a rewritten or truncated history is caught
even when the attacker recomputed every hash after the change.
"""
from __future__ import annotations

import hashlib
import json
from json.encoder import c_make_encoder, encode_basestring
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from blastwall.store.base import AuditRecord

GENESIS = "0" * 64
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


# canonical form ---------------------------------------------------------------
_ENC = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _refuse(obj):
    raise TypeError(f"not JSON: {type(obj).__name__}")


# the C encoder, built once (json.dumps builds one per call); no cycle check: cycles raise RecursionError
_C_ENC = c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", True, False, False) \
    if c_make_encoder else None


@dataclass(frozen=True)
class Canonical:
    """A value already in canonical JSON text (``Canonical.of(value)``), encoded once and then
    embedded as is: as a whole stored column, or as a value of a top-level payload object.  Not
    a str, so anywhere deeper the encoder refuses it rather than quoting it."""
    text: str

    @classmethod
    def of(cls, value) -> "Canonical":
        return cls(canonical_text(value))


def canonical_text(obj) -> str:
    """Sorted keys, no spaces, non-ASCII kept as is; NaN/Infinity refused."""
    if type(obj) is Canonical:
        return obj.text
    if type(obj) is dict and any(type(v) is Canonical for v in obj.values()):
        return _object(obj)
    if _C_ENC is None or isinstance(obj, str):
        return _ENC.encode(obj)
    try:
        return "".join(_C_ENC(obj, 0))
    except RecursionError:
        raise ValueError("circular or too deeply nested JSON") from None


def _object(obj: dict) -> str:
    """A top-level object some of whose values are Canonical (keys sorted as the encoder sorts)."""
    if not all(isinstance(k, str) for k in obj):
        raise TypeError("keys must be strings")
    return "{" + ",".join(f"{_ENC.encode(k)}:{canonical_text(obj[k])}" for k in sorted(obj)) + "}"


def canonical(obj) -> bytes:
    """The canonical JSON as UTF-8 bytes."""
    return canonical_text(obj).encode("utf-8")


def utc(at: datetime) -> datetime:
    """Naive times are taken as UTC."""
    if at.tzinfo is timezone.utc:
        return at
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


_LAST_ISO: tuple[Any, str] = (None, "")


def iso(at: datetime) -> str:
    """UTC, microseconds, explicit offset: sorts as text in time order.  The last one is kept: a
    proposal's records all carry the same time object."""
    global _LAST_ISO
    last = _LAST_ISO
    if last[0] is at:
        return last[1]
    text = utc(at).isoformat(timespec="microseconds")
    _LAST_ISO = (at, text)
    return text


def parse_iso(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _hash(prev_hash: str, seq: int, at_text: str, kind: str, actor: str, payload_text: str) -> str:
    # == canonical({"seq", "at", "kind", "actor", "payload"}), spelled out (keys in sorted order)
    if type(seq) is not int or not isinstance(kind, str) or not isinstance(actor, str):
        raise TypeError("seq must be an int, kind and actor strings")
    body = (f'{{"actor":{_ENC.encode(actor)},"at":"{at_text}","kind":{_ENC.encode(kind)},'
            f'"payload":{payload_text},"seq":{seq}}}')
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record_hash(prev_hash: str, seq: int, at: datetime, kind: str, actor: str, payload) -> str:
    """sha256(prev_hash + canonical JSON of {seq, at, kind, actor, payload}), hex."""
    return _hash(prev_hash, seq, iso(at), kind, actor, canonical_text(payload))


def make_record(prev: tuple[int, str], kind: str, actor: str, payload: dict,
                at: datetime) -> tuple[AuditRecord, str, str]:
    """The record following head ``prev`` = (seq, hash), with the text stored for its ``at`` and
    ``payload``.  ``payload`` is kept as given; what is hashed and stored is its canonical JSON
    (tuples read back as lists)."""
    seq, prev_hash, at_text, at = prev[0] + 1, prev[1], iso(at), utc(at)
    payload_text = canonical_text(payload)
    h = _hash(prev_hash, seq, at_text, kind, actor, payload_text)
    return AuditRecord(seq, at, kind, actor, payload, prev_hash, h), at_text, payload_text


# Merkle tree (RFC 6962) ---------------------------------------------------------
def _leaf(h: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(h)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleAccumulator:
    """Appends leaves one at a time; ``root()`` is the RFC 6962 tree head of all so far."""

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []      # roots of perfect subtrees, largest first

    def append(self, record_hash_hex: str) -> None:
        node, self.size = _leaf(record_hash_hex), self.size + 1
        n = self.size
        while n % 2 == 0:                  # merge equal-height peaks
            node = _node(self._peaks.pop(), node)
            n //= 2
        self._peaks.append(node)

    def root(self) -> str:
        if not self._peaks:
            return EMPTY_ROOT
        node = self._peaks[-1]
        for left in reversed(self._peaks[:-1]):
            node = _node(left, node)
        return node.hex()


def merkle_root(record_hashes: Iterable[str]) -> str:
    acc = MerkleAccumulator()
    for h in record_hashes:
        acc.append(h)
    return acc.root()


# verification -------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    kind: str      # edited, deleted, inserted, reordered, broken_link, truncated, checkpoint_mismatch, head_mismatch
    seq: int       # where (0 when not about one record)
    message: str

    def __str__(self) -> str:
        return f"{self.kind} at seq {self.seq}: {self.message}" if self.seq else f"{self.kind}: {self.message}"


@dataclass
class VerifyResult:
    size: int = 0                     # records read
    head: str = GENESIS               # hash of the last record read
    root: str = EMPTY_ROOT            # Merkle root over every record read
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Verifier:
    """Streaming check of a chain, fed in storage order (by seq); remembers no records."""

    MAX_PROBLEMS = 100

    def __init__(self, checkpoints: Iterable = ()) -> None:
        self.result = VerifyResult()
        self._acc = MerkleAccumulator()
        self._prev_hash, self._expected, self._last_seq = GENESIS, 1, 0
        self._checkpoints = sorted(checkpoints, key=lambda c: c.size)
        self._roots: dict[int, str] = {}
        self._wanted = {c.size for c in self._checkpoints}

    def _problem(self, kind: str, seq: int, message: str) -> None:
        if len(self.result.problems) < self.MAX_PROBLEMS:
            self.result.problems.append(Problem(kind, seq, message))

    def feed(self, rec: AuditRecord) -> None:
        linked = True
        if rec.seq < self._expected:
            if rec.seq == self._last_seq:
                self._problem("inserted", rec.seq, "a second record claims this sequence number")
            else:
                self._problem("reordered", rec.seq, f"appears after seq {self._last_seq}")
            linked = False
        elif rec.seq > self._expected:
            gone = f"{self._expected}" if rec.seq == self._expected + 1 else f"{self._expected}..{rec.seq - 1}"
            self._problem("deleted", self._expected, f"record(s) {gone} missing")
            linked = False
        try:
            ok = record_hash(rec.prev_hash, rec.seq, rec.at, rec.kind, rec.actor, rec.payload) == rec.hash
        except (TypeError, ValueError):
            ok = False
        if not ok:
            self._problem(*self._why_mismatch(rec))
        elif linked and rec.prev_hash != self._prev_hash:
            self._problem("broken_link", rec.seq,
                          "prev_hash does not match the previous record "
                          "(a record before it was edited, inserted or removed and the chain rehashed)")
        self._prev_hash, self._last_seq = rec.hash, rec.seq
        self._expected = max(self._expected, rec.seq + 1)
        self._acc.append(rec.hash)
        if self._acc.size in self._wanted:
            self._roots[self._acc.size] = self._acc.root()
        self.result.size, self.result.head = self._acc.size, rec.hash

    @staticmethod
    def _why_mismatch(rec: AuditRecord) -> tuple[str, int, str]:
        """A record renumbered by one (the rest intact) points at an insertion or deletion before it."""
        for shift, kind in ((-1, "inserted"), (1, "deleted")):
            try:
                if record_hash(rec.prev_hash, rec.seq + shift, rec.at, rec.kind, rec.actor, rec.payload) == rec.hash:
                    return kind, rec.seq, f"this is record {rec.seq + shift} renumbered: a record was {kind} before it"
            except (TypeError, ValueError):
                break
        return "edited", rec.seq, "content does not match its hash"

    def root(self) -> str:
        """Merkle root over the records fed so far."""
        return self._acc.root()

    def finish(self, head: tuple[int, str] | None = None) -> VerifyResult:
        """``head``: the store's recorded chain head (seq, hash), checked against the last record."""
        res = self.result
        res.root = self._acc.root()
        if head is not None and head != (self._last_seq, res.head if self._last_seq else GENESIS):
            kind = "truncated" if head[0] > self._last_seq else "head_mismatch"
            self._problem(kind, head[0], f"the chain head says seq {head[0]} but the last record is seq "
                                         f"{self._last_seq}")
        for cp in self._checkpoints:
            if cp.size > res.size:
                self._problem("truncated", cp.size, f"checkpoint covers {cp.size} records, the log has only "
                                                    f"{res.size} (tail removed)")
            elif self._roots.get(cp.size, EMPTY_ROOT if cp.size == 0 else None) != cp.root:
                self._problem("checkpoint_mismatch", cp.size,
                              f"the first {cp.size} records do not match the checkpoint root "
                              f"(history rewritten)")
        return res


def verify(records: Iterable[AuditRecord], checkpoint=None, head: tuple[int, str] | None = None) -> VerifyResult:
    """Check a whole chain given in storage order.  ``checkpoint``: one object (or a list) with
    ``size`` and ``root``; ``head``: the store's recorded (seq, hash) of the last record."""
    cps = [] if checkpoint is None else (checkpoint if isinstance(checkpoint, (list, tuple)) else [checkpoint])
    records = list(records)
    out_of_order = [b for a, b in zip(records, records[1:]) if b.seq < a.seq]
    v = Verifier(cps)
    for rec in out_of_order:
        v._problem("reordered", rec.seq, "stored after a record with a higher sequence number")
    for rec in sorted(records, key=lambda r: r.seq) if out_of_order else records:
        v.feed(rec)
    return v.finish(head)
