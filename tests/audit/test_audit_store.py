"""The audit trail on a real store: the checkpoint cadence, export, and `blastwall audit ...`
catching tampering done directly in the database file."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from blastwall.audit.chain import GENESIS, make_record, verify
from blastwall.audit.checkpoint import (ChainBroken, Checkpoint, Checkpointer, generate_key, load_private_key,
                                        load_public_key, make_checkpoint)
from blastwall.audit.export import export_jsonl, iter_records, read_jsonl
from blastwall.cli.main import main
from blastwall.errors import InputError
from blastwall.store.sqlite import SqliteStore

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "audit.db"
    store = SqliteStore(path)
    store.migrate()
    for i in range(12):
        store.transact(lambda tx: tx.audit("decision", f"agent-{i % 3}", {"i": i, "intent": "<b>x</b>"},
                                           T0 + timedelta(seconds=i)))
    store.close()
    return path


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "audit.key"
    generate_key(path)
    return path


def cli(capsys, *args) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def sql(path, *statements):
    conn = sqlite3.connect(path)
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def rows(path):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    out = [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")]
    conn.close()
    return out


# checkpoints -------------------------------------------------------------------------------------
def test_keys_roundtrip_and_refuse_overwrite(tmp_path, keyfile):
    priv, pub = load_private_key(keyfile), load_public_key(f"{keyfile}.pub")
    assert pub.public_bytes_raw() == priv.public_key().public_bytes_raw()
    assert load_public_key(keyfile).public_bytes_raw() == pub.public_bytes_raw()
    assert (keyfile.stat().st_mode & 0o777) == 0o600
    with pytest.raises(InputError):
        generate_key(keyfile)
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(InputError):
        load_public_key(tmp_path / "junk.pem")
    with pytest.raises(InputError):
        load_private_key(tmp_path / "missing.pem")


def test_checkpointer_cadence_by_records_and_by_time(tmp_path):
    store = SqliteStore(tmp_path / "c.db")
    store.migrate()
    key = Ed25519PrivateKey.generate()
    cpr = Checkpointer(key, every_records=5, every_seconds=60)
    try:
        assert cpr.maybe_checkpoint(store, T0) is None                 # nothing yet
        for i in range(4):
            store.transact(lambda tx: tx.audit("k", "a", {"i": i}, T0))
        assert cpr.maybe_checkpoint(store, T0 + timedelta(seconds=1)) is None      # 4 < 5, 1 s < 60 s
        store.transact(lambda tx: tx.audit("k", "a", {"i": 4}, T0))
        cp = cpr.maybe_checkpoint(store, T0 + timedelta(seconds=2))                 # 5 records
        assert cp.size == 5 and cp.verify(key.public_key())
        store.transact(lambda tx: tx.audit("k", "a", {"i": 5}, T0))
        assert cpr.maybe_checkpoint(store, T0 + timedelta(seconds=30)) is None
        cp2 = cpr.maybe_checkpoint(store, T0 + timedelta(seconds=63))               # 60 s since the last
        assert cp2.size == 6
        assert cpr.maybe_checkpoint(store, T0 + timedelta(hours=1)) is None         # nothing new
        saved = [Checkpoint.from_dict(d) for d in store.checkpoints()]
        assert saved == [cp, cp2]
        assert verify(store.audit_records(), saved).ok
        # a new Checkpointer (a restarted service) continues from the last saved checkpoint
        again = Checkpointer(key, every_records=5, every_seconds=60)
        assert again.maybe_checkpoint(store, T0 + timedelta(seconds=70)) is None
    finally:
        store.close()


def test_no_checkpoint_is_signed_over_a_broken_chain(db):
    sql(db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    store = SqliteStore(db)
    try:
        with pytest.raises(ChainBroken, match="edited at seq 3"):
            make_checkpoint(store, Ed25519PrivateKey.generate(), T0)
    finally:
        store.close()


def test_export_jsonl_roundtrip(db, tmp_path):
    store = SqliteStore(db)
    try:
        out = tmp_path / "audit.jsonl"
        with open(out, "w") as f:
            assert export_jsonl(iter_records(store, page=5), f) == 12
        lines = out.read_text().splitlines()
        assert json.loads(lines[0])["seq"] == 1 and '"intent":"<b>x</b>"' in lines[0]
        assert list(read_jsonl(lines)) == store.audit_records()
        with pytest.raises(InputError) as err:
            list(read_jsonl(lines[:2] + ["{\"seq\": 3}"], source="x.jsonl"))
        assert err.value.line == 3
    finally:
        store.close()


# the CLI -------------------------------------------------------------------------------------------
def test_cli_verify_ok_checkpoint_export(db, keyfile, tmp_path, capsys):
    cpfile = tmp_path / "cp.txt"
    code, out = cli(capsys, "audit", "checkpoint", "--db", db, "--key", keyfile, "-o", cpfile)
    assert code == 0 and out.startswith("blastwall-audit-checkpoint v1\nsize 12\n")
    assert cpfile.read_text() == out
    code, out = cli(capsys, "audit", "verify", "--db", f"sqlite:///{db}", "--checkpoint", cpfile,
                    "--public-key", f"{keyfile}.pub")
    assert code == 0 and "ok: 12 records" in out and "size 12" in out
    export = tmp_path / "e.jsonl"
    code, out = cli(capsys, "audit", "export", "--db", db, "-o", export)
    assert code == 0 and len(export.read_text().splitlines()) == 12
    code, out = cli(capsys, "audit", "verify", "--jsonl", export, "--checkpoint", cpfile)
    assert code == 0 and "signatures not checked" in out
    code, out = cli(capsys, "audit", "export", "--db", db)
    assert code == 0 and out.count('"kind":"decision"') == 12


def _checkpoint(capsys, db, keyfile, tmp_path):
    cpfile = tmp_path / "cp.txt"
    assert cli(capsys, "audit", "checkpoint", "--db", db, "--key", keyfile, "-o", cpfile)[0] == 0
    return cpfile


TAMPERING = {
    "edited": ["UPDATE audit_log SET payload = '{\"i\":4,\"intent\":\"fine\"}' WHERE seq = 5"],
    "deleted": ["DELETE FROM audit_log WHERE seq = 6"],
    "reordered": ["UPDATE audit_log SET seq = -1 WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 8",
                  "UPDATE audit_log SET seq = 8 WHERE seq = -1"],
    "inserted": ["UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4",
                 "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000",
                 "INSERT INTO audit_log SELECT 4, at, 'review', 'mallory', '{}', prev_hash, hash "
                 "FROM audit_log WHERE seq = 3"],
    "truncated": ["DELETE FROM audit_log WHERE seq > 9",
                  "UPDATE audit_head SET seq = 9, hash = (SELECT hash FROM audit_log WHERE seq = 9)"],
}


@pytest.mark.parametrize("what", sorted(TAMPERING))
def test_cli_verify_finds_tampering(what, db, keyfile, tmp_path, capsys):
    cpfile = _checkpoint(capsys, db, keyfile, tmp_path)
    sql(db, *TAMPERING[what])
    code, out = cli(capsys, "audit", "verify", "--db", db, "--checkpoint", cpfile, "--public-key", f"{keyfile}.pub")
    assert code == 1 and "TAMPERING FOUND" in out, out
    if what != "reordered":                     # swapped rows read back in seq order: content no longer matches
        assert what in out, out


def test_cli_verify_rewritten_history_caught_by_exported_checkpoint(db, keyfile, tmp_path, capsys):
    """The attacker rewrites record 2 and recomputes every later hash, the head and even the
    stored checkpoints: only the checkpoint kept outside the database tells."""
    cpfile = _checkpoint(capsys, db, keyfile, tmp_path)
    recs, head, out = rows(db), (0, GENESIS), []
    for r in recs:
        payload = {"i": 1, "intent": "nothing to see"} if r["seq"] == 2 else json.loads(r["payload"])
        rec, at_text, payload_text = make_record(head, r["kind"], r["actor"], payload,
                                                 datetime.fromisoformat(r["at"]))
        out.append((rec.seq, at_text, rec.kind, rec.actor, payload_text, rec.prev_hash, rec.hash))
        head = (rec.seq, rec.hash)
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM audit_log")
    conn.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)", out)
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?", head)
    conn.execute("DELETE FROM checkpoints")
    conn.commit()
    conn.close()
    code, text = cli(capsys, "audit", "verify", "--db", db)
    assert code == 0                                 # self-consistent without the exported checkpoint
    code, text = cli(capsys, "audit", "verify", "--db", db, "--checkpoint", cpfile, "--public-key", f"{keyfile}.pub")
    assert code == 1 and "checkpoint_mismatch" in text


def test_cli_forged_or_foreign_checkpoint(db, keyfile, tmp_path, capsys):
    cpfile = _checkpoint(capsys, db, keyfile, tmp_path)
    forged = tmp_path / "forged.txt"
    forged.write_text(cpfile.read_text().replace("size 12", "size 11"))
    code, out = cli(capsys, "audit", "verify", "--db", db, "--checkpoint", forged, "--public-key", f"{keyfile}.pub")
    assert code == 1 and "bad_signature" in out
    other = tmp_path / "other.key"
    generate_key(other)
    code, out = cli(capsys, "audit", "verify", "--db", db, "--checkpoint", cpfile, "--public-key", f"{other}.pub")
    assert code == 1 and "bad_signature" in out


@pytest.mark.parametrize("args", [
    ["audit", "verify", "--db", "{tmp}/missing.db"],
    ["audit", "verify"],
    ["audit", "verify", "--db", "{db}", "--checkpoint", "{tmp}/missing.txt"],
    ["audit", "verify", "--db", "{db}", "--checkpoint", "{db}"],
    ["audit", "verify", "--db", "{db}", "--public-key", "{db}"],
    ["audit", "verify", "--db", "postgresql://nobody@/nowhere?host=/nonexistent&connect_timeout=1"],
    ["audit", "checkpoint", "--db", "{db}", "--key", "{tmp}/missing.key"],
    ["audit", "export", "--db", "{tmp}/missing.db"],
])
def test_cli_bad_input_exits_2(args, db, tmp_path, capsys):
    code, out = cli(capsys, *[a.format(tmp=tmp_path, db=db) for a in args])
    assert code == 2, out


def test_cli_checkpoint_refuses_a_broken_chain(db, keyfile, capsys):
    sql(db, "DELETE FROM audit_log WHERE seq = 2")
    code, out = cli(capsys, "audit", "checkpoint", "--db", db, "--key", keyfile)
    assert code == 1 and "deleted" in out
