"""Durable audit appends per second: group commit next to one transaction per append.

    python bench/bench_audit.py                  # SQLite, and PostgreSQL when its binaries are installed
    python bench/bench_audit.py --quick          # fewer appends, one run each
    python bench/bench_audit.py --pg-url URL     # an existing PostgreSQL instead of a throwaway one

Every append is ``store.transact(lambda tx: tx.audit(...))`` from one of many threads,
acknowledged only after a durable commit: SQLite WAL with synchronous=FULL (fsync of
the WAL on every commit), PostgreSQL with fsync=on and synchronous_commit=on.
"Group commit" is the store as shipped (one writer thread, one commit per batch of
queued works); "per row" is the same store with max_batch=1, i.e. one transaction and
one fsync per append.  After each run the chain is read back and verified.
Writes the figures to bench/RESULTS-audit.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import fsync_times, save_run, verified_records  # noqa: E402
from blastwall.store.base import Store  # noqa: E402
from blastwall.store.sqlite import SqliteStore  # noqa: E402

TARGET_SQLITE = 20_000
PAYLOAD = {"proposal_id": "p-0123456789", "agent": "agent-7", "effect": "approve",
           "digest": "ab" * 32, "reasons": ["prod-delete-needs-two-approvers"]}


def run(store: Store, threads: int, appends: int) -> dict:
    """``appends`` durable appends from ``threads`` threads; throughput and latency."""
    per_thread = max(1, appends // threads)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start_gate = threading.Barrier(threads + 1)

    def client(i: int) -> None:
        lat = latencies[i]
        start_gate.wait()
        for _ in range(per_thread):
            t = time.perf_counter()
            store.transact(lambda tx: tx.audit("decision", f"agent-{i}", PAYLOAD, datetime.now(timezone.utc)))
            lat.append(time.perf_counter() - t)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    batches0 = store.batches
    start_gate.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    done = per_thread * threads
    lat = sorted(x for xs in latencies for x in xs)
    return {"threads": threads, "appends": done, "seconds": elapsed, "rate": done / elapsed,
            "batch": done / max(1, store.batches - batches0),
            "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[int(len(lat) * 0.99)] * 1e3}


def check_chain(store: Store, expected: int) -> None:
    found = verified_records(store)
    if found != expected:
        raise SystemExit(f"chain check failed: {found} records (expected {expected})")


def median_run(open_store, threads: int, appends: int, runs: int) -> dict:
    results = []
    for _ in range(runs):
        store = open_store()
        try:
            results.append(run(store, threads, appends))
            check_chain(store, results[-1]["appends"])
        finally:
            store.close()
    return sorted(results, key=lambda r: r["rate"])[len(results) // 2]


_fresh = iter(range(1_000_000))      # a new database (file or schema) for every run


def sqlite_opener(workdir: Path, max_batch: int):
    def open_() -> SqliteStore:
        store = SqliteStore(workdir / f"bench-{next(_fresh)}.db", max_batch=max_batch)
        store.migrate()
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        return store
    return open_


def pg_opener(url_for, max_batch: int):
    from blastwall.store.postgres import PostgresStore

    def open_() -> PostgresStore:
        store = PostgresStore(url_for(f"bench_{os.getpid()}_{next(_fresh)}"), max_batch=max_batch)
        store.migrate()
        return store
    return open_


def fsync_ms(directory: Path) -> float:
    return statistics.median(fsync_times(directory, 50)) * 1e3


def row(name: str, r: dict) -> str:
    return (f"| {name} | {r['threads']} | {r['appends']:,} | {r['seconds']:.2f} | {r['rate']:,.0f} | "
            f"{r['batch']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")


HEADER = ("| mode | threads | appends | seconds | appends/s | appends per commit | p50 ms | p99 ms |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[64, 256, 512])
    ap.add_argument("--appends", type=int, default=100_000, help="per group-commit run")
    ap.add_argument("--per-row-appends", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=3, help="median of this many runs (group commit)")
    ap.add_argument("--pg-url", help="an existing PostgreSQL (a fresh schema is made per run)")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-audit.md"))
    args = ap.parse_args()
    if args.quick:
        args.appends, args.per_row_appends, args.runs = 30_000, 500, 1
    best_threads = max(args.threads)
    lines: list[str] = []
    summary: list[str] = []

    with tempfile.TemporaryDirectory(prefix="bench-audit-", dir=os.environ.get("BENCH_TMP")) as tmp:
        workdir = Path(tmp)
        disk = fsync_ms(workdir)
        print(f"fdatasync of a 4 KiB overwrite here: {disk:.2f} ms (median of 50)")

        # SQLite ------------------------------------------------------------------------------
        print("SQLite (WAL, synchronous=FULL)")
        lines += ["## SQLite (WAL, synchronous=FULL)", "", HEADER]
        group = {}
        for n in args.threads:
            group[n] = median_run(sqlite_opener(workdir, 2048), n, args.appends, args.runs)
            lines.append(row("group commit", group[n]))
            print("  " + lines[-1])
        per_row = median_run(sqlite_opener(workdir, 1), best_threads, args.per_row_appends, 1)
        lines.append(row("per row (1 transaction per append)", per_row))
        print("  " + lines[-1])
        best = max(group.values(), key=lambda r: r["rate"])
        ratio = best["rate"] / per_row["rate"]
        verdict = "meets" if best["rate"] >= TARGET_SQLITE else "MISSES"
        summary.append(f"SQLite: group commit {best['rate']:,.0f} appends/s ({best['threads']} threads) vs per row "
                       f"{per_row['rate']:,.0f} appends/s: {ratio:.0f}x; {verdict} the {TARGET_SQLITE:,}/s target")
        lines += [""]

        # PostgreSQL --------------------------------------------------------------------------------
        if not args.no_pg:
            pg = start_pg(args.pg_url)
            if pg is None:
                lines += ["## PostgreSQL", "", "not run: no PostgreSQL binaries (apt-get install postgresql)", ""]
            else:
                url_for, stop, version = pg
                try:
                    print(f"PostgreSQL {version} (fsync=on, synchronous_commit=on)")
                    lines += [f"## PostgreSQL {version} (fsync=on, synchronous_commit=on, Unix socket)", "", HEADER]
                    pgroup = median_run(pg_opener(url_for, 2048), best_threads, args.appends, args.runs)
                    lines.append(row("group commit", pgroup))
                    print("  " + lines[-1])
                    prow = median_run(pg_opener(url_for, 1), best_threads, args.per_row_appends, 1)
                    lines.append(row("per row (1 transaction per append)", prow))
                    print("  " + lines[-1])
                    summary.append(f"PostgreSQL: group commit {pgroup['rate']:,.0f} appends/s vs per row "
                                   f"{prow['rate']:,.0f} appends/s: {pgroup['rate'] / prow['rate']:.0f}x")
                    lines += [""]
                finally:
                    stop()

    head = [
        f"## Run of {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "",
        f"On {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; fdatasync of a 4 KiB overwrite "
        f"{disk:.2f} ms here.  Command: `{' '.join(['python bench/bench_audit.py', *sys.argv[1:]])}`.", "",
        "Each append is one `store.transact(lambda tx: tx.audit(...))` from one of many threads, returned only",
        "after a durable commit.  Group commit: the store as shipped (one writer thread; one transaction, one",
        "fsync per batch of queued works, each in its own savepoint).  Per row: the same store with",
        "`max_batch=1` (one transaction and one fsync per append).  Group-commit rows are the median of",
        f"{args.runs} run(s); the chain is verified after every run.  Latency is per `transact` call.", "",
        *[f"- {s}" for s in summary], "",
    ]
    save_run(Path(args.out), TITLE, "\n".join(head + [ln.replace("## ", "### ", 1) for ln in lines]))
    print("\n".join(summary))
    print(f"wrote {args.out}")


TITLE = "# Audit append throughput (bench/bench_audit.py)"


def start_pg(url: str | None):
    """(url_for(schema), stop, version) for an existing or a throwaway server; None without binaries."""
    import psycopg

    if url is None:
        from tests.store.pgserver import PgServer, find_bindir
        bindir = find_bindir()
        if bindir is None:
            return None
        server = PgServer(bindir)
        server.start()
        url, stop = server.url(), server.destroy
    else:
        stop = lambda: None  # noqa: E731
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        if fsync != "on":
            raise SystemExit("PostgreSQL runs with fsync=off: not a durability benchmark")

    def url_for(schema: str) -> str:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}options=-csearch_path%3D{schema}"
    return url_for, stop, version


if __name__ == "__main__":
    main()
