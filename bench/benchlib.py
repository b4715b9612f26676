"""What the benchmarks share: the results file, the disk's fsync latency, the audit chain check."""
from __future__ import annotations

import os
import time
from pathlib import Path

RUN_MARK = "<!-- run -->"
KEEP_RUNS = 6


def save_run(path: Path, title: str, run_text: str) -> None:
    """Newest run first, earlier runs below it (the machine varies from run to run); whatever is
    written above the first run is kept as it is."""
    parts = path.read_text().split(RUN_MARK) if path.exists() else [title + "\n"]
    head, old = parts[0].strip() + "\n", parts[1:]
    runs = [run_text.strip() + "\n"] + [r.strip() + "\n" for r in old][:KEEP_RUNS - 1]
    path.write_text(head + "\n" + "".join(f"{RUN_MARK}\n{r}\n" for r in runs))


def fdatasync_once(fd: int) -> float:
    """Seconds one fdatasync after a 4 KiB overwrite takes: what one durable commit waits for."""
    os.pwrite(fd, b"x" * 4096, 0)
    t = time.perf_counter()
    os.fdatasync(fd)
    return time.perf_counter() - t


def fsync_times(directory: Path, n: int = 100) -> list[float]:
    """``n`` fdatasync latencies (s), sorted, from a probe file in ``directory``."""
    path = directory / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        times = sorted(fdatasync_once(fd) for _ in range(n))
    finally:
        os.close(fd)
        path.unlink()
    return times


def verified_records(store) -> int:
    """How many audit records the store holds, after verifying their chain (SystemExit if broken)."""
    from blastwall.audit.chain import verify
    from blastwall.audit.export import iter_records
    records = list(iter_records(store))
    result = verify(records, head=store.audit_head())
    if not result.ok:
        raise SystemExit(f"audit chain broken after the run: {result.problems[:3]}")
    return len(records)
