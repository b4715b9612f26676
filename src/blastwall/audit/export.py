"""JSONL export of audit records: one canonical JSON object per line, in seq order."""
from __future__ import annotations

import json
from typing import Iterable, Iterator, TextIO

from blastwall.audit.chain import canonical_text, iso, parse_iso
from blastwall.errors import InputError
from blastwall.store.base import AuditRecord, Store

FIELDS = ("seq", "at", "kind", "actor", "payload", "prev_hash", "hash")


def record_to_dict(rec: AuditRecord) -> dict:
    return {"seq": rec.seq, "at": iso(rec.at), "kind": rec.kind, "actor": rec.actor, "payload": rec.payload,
            "prev_hash": rec.prev_hash, "hash": rec.hash}


def record_from_dict(d: dict) -> AuditRecord:
    return AuditRecord(int(d["seq"]), parse_iso(d["at"]), d["kind"], d["actor"], d["payload"],
                       d["prev_hash"], d["hash"])


def iter_records(store: Store, page: int = 5000) -> Iterator[AuditRecord]:
    after = 0
    while True:
        records = store.audit_records(after_seq=after, limit=page)
        if not records:
            return
        yield from records
        after = records[-1].seq


def export_jsonl(records: Iterable[AuditRecord], out: TextIO) -> int:
    """Write records as JSONL; returns how many."""
    n = 0
    for rec in records:
        out.write(canonical_text(record_to_dict(rec)) + "\n")
        n += 1
    return n


def read_jsonl(lines: Iterable[str], source: str | None = None) -> Iterator[AuditRecord]:
    """Records from JSONL text (blank lines skipped); malformed lines are InputError with the line."""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict) or set(d) != set(FIELDS) or not isinstance(d["payload"], dict):
                raise ValueError(f"expected an object with exactly {', '.join(FIELDS)}")
            yield record_from_dict(d)
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not an audit record: {exc}", source=source, line=n) from None
