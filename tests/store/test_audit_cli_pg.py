"""`blastwall audit ...` against PostgreSQL: checkpoint, verify, export, and tampering found."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from blastwall.audit.checkpoint import generate_key
from blastwall.cli.main import main
from blastwall.store.postgres import PostgresStore

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


def cli(capsys, *args) -> tuple[int, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


def test_audit_cli_on_postgres(pg_url, tmp_path, capsys):
    store = PostgresStore(pg_url)
    store.migrate()
    for i in range(8):
        store.transact(lambda tx: tx.audit("decision", "system", {"i": i}, T0 + timedelta(seconds=i)))
    store.close()
    key = tmp_path / "k"
    generate_key(key)
    cp = tmp_path / "cp.txt"
    assert cli(capsys, "audit", "checkpoint", "--db", pg_url, "--key", key, "-o", cp)[0] == 0
    code, out = cli(capsys, "audit", "verify", "--db", pg_url, "--checkpoint", cp, "--public-key", f"{key}.pub")
    assert code == 0 and "ok: 8 records" in out
    code, out = cli(capsys, "audit", "export", "--db", pg_url)
    assert code == 0 and out.count("\n") >= 8

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM audit_log WHERE seq > 6")
        conn.execute("UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit_log WHERE seq = 6)")
    code, out = cli(capsys, "audit", "verify", "--db", pg_url, "--checkpoint", cp, "--public-key", f"{key}.pub")
    assert code == 1 and "truncated" in out
