"""Decisions per second over HTTP, with durable audit, next to the in-process engine.

    python bench/bench_service.py                 # 64 agents, 10 s per row, 1 and 2 service processes
    python bench/bench_service.py --quick         # 3 s per row
    python bench/bench_service.py --workers 1 2   # `blastwall serve --workers N` to try
    python bench/bench_service.py --baseline-src /tmp/old/src   # also a service from older source

The same proposals (a fixed mix of routine restarts, approvals and denials on the sample fleet;
the recommended policy with its limits raised, so budgets are charged but never exhausted) are
decided three ways:

- engine: ``Engine.decide`` in this process, one thread (no store, no HTTP);
- gateway: ``Gateway.propose`` in this process from 64 threads, recording every proposal,
  decision and approval request in the hash-chained audit log (SQLite, WAL, synchronous=FULL,
  group commit): the audit overhead without HTTP;
- HTTP: a real ``blastwall serve`` on 127.0.0.1 (SQLite as above); 64 agents, each its own
  principal on its own keep-alive connection, POST /v1/proposals.  First as fast as they are
  answered (throughput; latency there is queueing: agents / rate), then open loop at offered
  rates (the 2,000/s target, and half and 80% of the measured throughput), latency counted
  from when each request was due, so a slow answer is charged to the requests queued behind it.

Each agent repeats its proposals, and a proposal asked again while its approval request is open
joins that request (nothing new to insert).  Requests here expire after APPROVAL_TTL_S (1 s), so
that, as in a fleet where changes rarely repeat, an approve opens a new request every time.

The load generator is one asyncio process with a minimal HTTP/1.1 client (uvloop when
installed): it competes for the same 2 cores, as cheaply as it can, and its CPU share is
reported next to the service's.  CPU per decision (the service's user + system time over the
decisions answered) is the figure least disturbed by other work on a shared machine.  After
each service the audit chain is read back and verified.  Writes bench/RESULTS-service.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import fdatasync_once, fsync_times, save_run, verified_records  # noqa: E402
from blastwall.engine import Engine  # noqa: E402
from blastwall.service.principals import hash_token  # noqa: E402

SAMPLE_FLEET = ROOT / "src" / "blastwall" / "data" / "sample-fleet.json"
TARGET_RATE, TARGET_P99_MS = 2000, 20.0
SUSTAINABLE = (0.5, 0.8)        # latency runs at these fractions of the measured throughput, too
APPROVAL_TTL_S = 1              # an approve opens a new request every time (see the docstring)
POLICY = """version: 1
extends: recommended
limits:
  - {name: bench-agent-changes, per: agent, window: hour, changes: 100000000}
"""


# the proposals ------------------------------------------------------------------------------
def proposals() -> list[dict]:
    """Routine restarts of every deployment, plus the incidents: a kubectl namespace delete in prod
    (approve) and the delete-and-recreate of a whole environment (deny)."""
    fleet = json.loads(SAMPLE_FLEET.read_text())["resources"]
    deploys = [r["id"] for r in fleet if r["kind"] == "deployment"]
    mix = [{"intent": "pick up new config", "operations": [{"verb": "restart", "target": d}]} for d in deploys]
    mix += [{"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments", "--context",
                                            f"prod-{region}"]} for region in ("cn-north-1", "us-east-1")]
    mix += [{"intent": "recreate", "operations": [{"verb": "delete", "target": "env/prod-cn"},
                                                  {"verb": "create", "target": "env/prod-cn"}]}]
    return mix


def agent_names(n: int) -> list[str]:
    return [f"bench-agent-{i:03d}" for i in range(n)]


def write_inputs(tmp: Path, agents: list[str]) -> tuple[Path, Path]:
    principals = [{"name": a, "kind": "agent", "operator": "bench", "token_sha256": hash_token(token(a))}
                  for a in agents]
    (tmp / "principals.yaml").write_text(json.dumps({"principals": principals}))   # JSON is YAML
    (tmp / "policy.yaml").write_text(POLICY)
    return tmp / "principals.yaml", tmp / "policy.yaml"


def token(agent: str) -> str:
    return f"bw_bench_{agent}"


def percentiles(lat: list[float]) -> tuple[float, float]:
    lat = sorted(lat)
    return lat[len(lat) // 2] * 1e3, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3


# in process ------------------------------------------------------------------------------------
def bench_engine(policy: Path, seconds: float, cold: bool = False) -> dict:
    engine, mix = Engine.load(SAMPLE_FLEET, policy), proposals()
    if cold:
        engine.radii.ENTRIES = 0                           # measure every blast radius
    docs = [{**p, "agent": "bench-agent-000", "operator": "bench"} for p in mix]
    for d in docs:
        engine.decide(d)                                   # warm caches
    lat, effects = [], {}
    t0, cpu0 = time.perf_counter(), time.process_time()
    deadline = t0 + seconds
    i = 0
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        decision = engine.decide(docs[i % len(docs)])
        lat.append(time.perf_counter() - t)
        effects[str(decision.effect)] = effects.get(str(decision.effect), 0) + 1
        i += 1
    what = "Engine.decide, 1 thread" + (", every radius measured (cold)" if cold else "")
    return summarise("engine-cold" if cold else "engine", what, i, time.perf_counter() - t0, lat, effects=effects,
                     cpu_ms=(time.process_time() - cpu0) / i * 1e3)


def bench_gateway(tmp: Path, policy: Path, agents: list[str], seconds: float) -> dict:
    from blastwall.service.gateway import Gateway, Settings
    from blastwall.service.principals import load_principals
    from blastwall.store.base import open_store
    store = open_store(f"sqlite:///{tmp / 'gateway.db'}")
    store.migrate()
    gw = Gateway(SAMPLE_FLEET, policy, store, load_principals(tmp / "principals.yaml"),
                 settings=Settings(approval_ttl=timedelta(seconds=APPROVAL_TTL_S)))
    mix = proposals()
    lats: list[list[float]] = [[] for _ in agents]
    gate = threading.Barrier(len(agents) + 1)
    deadline = [0.0]

    def agent(k: int) -> None:
        who, lat, i = gw.principals.by_name[agents[k]], lats[k], k
        gate.wait()
        while time.perf_counter() < deadline[0]:
            t = time.perf_counter()
            gw.propose(who, mix[i % len(mix)])
            lat.append(time.perf_counter() - t)
            i += 1
    threads = [threading.Thread(target=agent, args=(k,)) for k in range(len(agents))]
    for th in threads:
        th.start()
    batches0 = store.batches
    deadline[0] = time.perf_counter() + seconds
    t0, cpu0 = time.perf_counter(), time.process_time()
    gate.wait()
    for th in threads:
        th.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    lat = [x for xs in lats for x in xs]
    batches = store.batches - batches0
    records = verified_records(store)
    store.close()
    return summarise("gateway", f"Gateway.propose + durable audit, {len(agents)} threads", len(lat), elapsed, lat,
                     batches=batches, records=records, cpu_ms=cpu / max(1, len(lat)) * 1e3)


# HTTP ----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `blastwall serve` process."""

    def __init__(self, tmp: Path, principals: Path, policy: Path, workers: int, src: str | None = None,
                 cold: bool = False, fresh: bool = False) -> None:
        """``src``: run the service from another copy of blastwall's source (a baseline); ``cold``:
        with no blast radius kept between proposals; ``fresh``: on a database of its own."""
        self.port = free_port()
        self.db = tmp / (f"service-{workers}-{'base' if src else 'this'}{'-cold' if cold else ''}"
                         f"{'-fresh' if fresh else ''}.db")
        args = [sys.executable, "-c", "from blastwall.cli.main import main; main()", "serve",
                "--inventory", str(SAMPLE_FLEET), "--policy", str(policy), "--principals", str(principals),
                "--db", f"sqlite:///{self.db}", "--port", str(self.port)]
        if workers > 1:
            args += ["--workers", str(workers)]
        if not src:
            args += ["--approval-ttl", str(APPROVAL_TTL_S)]
        self.log = (tmp / f"serve-{self.port}.log").open("w")
        env = {**os.environ, **({"PYTHONPATH": src} if src else {}), **({"BLASTWALL_RADIUS_MEMO": "0"} if cold else {})}
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"service exited: {Path(self.log.name).read_text()}")
            try:
                status, _ = asyncio.run(one_request("127.0.0.1", self.port, b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n"))
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit("service did not become ready")

    def cpu_seconds(self) -> float:
        return tree_cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (uvicorn workers)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:            # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])
    return total / tick


def request_bytes(doc: dict, agent: str) -> bytes:
    body = json.dumps(doc).encode()
    return (f"POST /v1/proposals HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token(agent)}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    at = head.lower().find(b"content-length:")
    length = int(head[at + 15:head.index(b"\r\n", at)]) if at >= 0 else 0
    return status, await reader.readexactly(length)


async def one_request(host: str, port: int, req: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(req)
        return await read_response(reader)
    finally:
        writer.close()


async def agent_loop(port: int, reqs: list[bytes], start: float, stop: float, out: dict) -> None:
    """One agent on one keep-alive connection; latencies counted between ``start`` and ``stop``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = hash(reqs[0]) % len(reqs)
    try:
        while (now := time.perf_counter()) < stop:
            writer.write(reqs[i % len(reqs)])
            status, body = await read_response(reader)
            if now >= start:
                out["lat"].append(time.perf_counter() - now)
                out["status"][status] = out["status"].get(status, 0) + 1
                if status == 200 and len(out["lat"]) % 50 == 0:          # sample the effects
                    effect = json.loads(body)["decision"]["effect"]
                    out["effects"][effect] = out["effects"].get(effect, 0) + 1
            i += 1
    finally:
        writer.close()


async def paced_agent(port: int, reqs: list[bytes], first: float, interval: float, start: float, stop: float,
                      out: dict) -> None:
    """One agent proposing every ``interval`` s from ``first`` on (open loop).  Latency is counted from
    when each request was due, so a slow answer also delays and charges the requests behind it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i, due = hash(reqs[0]) % len(reqs), first
    try:
        while due < stop:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(reqs[i % len(reqs)])
            status, _ = await read_response(reader)
            done = time.perf_counter()
            if due >= start:
                out["end"] = max(out["end"], done)
                out["lat"].append(done - due)
                out["status"][status] = out["status"].get(status, 0) + 1
            i, due = i + 1, due + interval
    finally:
        writer.close()


async def load(port: int, agents: list[str], warmup: float, seconds: float, rate: float | None = None) -> dict:
    """Every agent on its own connection: as fast as answered (``rate`` None), or together at ``rate``
    proposals per second, evenly staggered."""
    mix = proposals()
    out: dict = {"lat": [], "status": {}, "effects": {}, "end": 0.0}
    start = time.perf_counter() + warmup
    stop = start + seconds
    out["start"] = start
    if rate is None:
        runs = [agent_loop(port, [request_bytes(d, a) for d in mix], start, stop, out) for a in agents]
    else:
        interval, origin = len(agents) / rate, time.perf_counter() + 0.2
        runs = [paced_agent(port, [request_bytes(d, a) for d in mix], origin + k * interval / len(agents), interval,
                            start, stop, out) for k, a in enumerate(agents)]
    await asyncio.gather(*runs)
    return out


def bench_http(tmp: Path, principals: Path, policy: Path, agents: list[str], workers: int,
               warmup: float, seconds: float, rates: list[float], src: str | None = None,
               cold: bool = False, fresh: bool = False) -> list[dict]:
    """One service: its saturation throughput, then its latency at each offered rate.  ``fresh``:
    only the offered rates, on a new database (the other rows run on what the rows before wrote)."""
    server = Server(tmp, principals, policy, workers, src, cold, fresh)
    procs = (f"{workers} process{'es' if workers > 1 else ''}" + (f", baseline {src}" if src else "")
             + (", cold" if cold else "") + (", new database" if fresh else ""))
    results = []
    try:
        server.wait_ready()
        if not fresh:
            results.append(http_run(server, agents, warmup, seconds, None,
                                    f"blastwall serve ({procs}), {len(agents)} agents as fast as answered"))
        sustainable = {round(results[0]["rate"] * f, -1) for f in SUSTAINABLE} if results else set()
        for rate in sorted({*rates, *sustainable}) if not cold else rates:
            results.append(http_run(server, agents, warmup, seconds, rate,
                                    f"blastwall serve ({procs}), {len(agents)} agents at {rate:,.0f}/s offered"))
    finally:
        server.stop()
    results[-1]["records"] = check_chain_file(server.db)
    for r in results:
        r["workers"] = workers
    return results


def http_run(server: Server, agents: list[str], warmup: float, seconds: float, rate: float | None,
             what: str) -> dict:
    run = asyncio.run if not _uvloop() else _uvloop().run
    db_mb = sum(f.stat().st_size for f in server.db.parent.glob(server.db.name + "*")) / 1e6
    probe = FsyncProbe(server.db.parent) if rate is not None else None
    cpu0, own0, wall0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
    out = run(load(server.port, agents, warmup, seconds, rate))
    wall = time.perf_counter() - wall0
    cpu, own = server.cpu_seconds() - cpu0, time.process_time() - own0
    fsync = probe.stop() if probe else None
    ok = out["status"].get(200, 0)
    errors = {k: v for k, v in out["status"].items() if k != 200}
    if rate is not None:                       # answered per second: until the last answer came back
        seconds = max(seconds, out["end"] - out["start"])
    return summarise("http", what, ok, seconds, out["lat"], effects=out["effects"], errors=errors,
                     server_cpu=cpu / wall, loadgen_cpu=own / wall, cpu_ms=cpu / wall * seconds / max(1, ok) * 1e3,
                     offered=rate, fsync=fsync, db_mb=db_mb)


class FsyncProbe:
    """fdatasync of a 4 KiB overwrite every 20 ms beside the database while the load runs: what a
    commit waits for on this disk under this load (its tail is the service's floor for p99)."""

    def __init__(self, directory: Path) -> None:
        self.times: list[float] = []
        self._stop = threading.Event()
        self._path = directory / "fsync-under-load.probe"
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while not self._stop.wait(0.02):
                self.times.append(fdatasync_once(fd))
        finally:
            os.close(fd)

    def stop(self) -> tuple[float, float, float] | None:
        self._stop.set()
        self._thread.join()
        self._path.unlink(missing_ok=True)
        t = sorted(self.times)
        return (t[len(t) // 2] * 1e3, t[int(len(t) * 0.99)] * 1e3, t[-1] * 1e3) if t else None


def _uvloop():
    try:
        import uvloop
        return uvloop
    except ImportError:
        return None


# checks and summaries ----------------------------------------------------------------------------
def check_chain_file(db: Path) -> int:
    from blastwall.store.base import open_store
    store = open_store(f"sqlite:///{db}")
    try:
        return verified_records(store)
    finally:
        store.close()


def summarise(name: str, what: str, n: int, seconds: float, lat: list[float], **extra) -> dict:
    p50, p99 = percentiles(lat) if lat else (float("nan"), float("nan"))
    return {"name": name, "what": what, "n": n, "seconds": seconds, "rate": n / seconds, "p50": p50, "p99": p99,
            **extra}


def table(results: list[dict], engine: dict) -> list[str]:
    lines = ["| path | decisions | decisions/s | vs engine | p50 ms | p99 ms | CPU ms per decision | "
             "service CPU | load-gen CPU |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        cpu = f"{r['server_cpu']:.2f} cores" if "server_cpu" in r else "-"
        gen = f"{r['loadgen_cpu']:.2f} cores" if "loadgen_cpu" in r else "-"
        per = f"{r['cpu_ms']:.2f} ({r['cpu_ms'] / engine['cpu_ms']:.1f}x)" if r.get("cpu_ms") else "-"
        lines.append(f"| {r['what']} | {r['n']:,} | {r['rate']:,.0f} | {r['rate'] / engine['rate']:.2f} | "
                     f"{r['p50']:.2f} | {r['p99']:.2f} | {per} | {cpu} | {gen} |")
    return lines


def notes(results: list[dict]) -> list[str]:
    out = []
    for r in results:
        if r.get("effects"):
            out.append(f"- {r['what']}: effects " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["effects"].items()))
                       + (" (sampled)" if r["name"] == "http" else ""))
        if r.get("errors"):
            out.append(f"- {r['what']}: non-200 answers {r['errors']}")
        if r.get("fsync"):
            out.append(f"- {r['what']}: fdatasync beside it p50 {r['fsync'][0]:.2f} ms, p99 {r['fsync'][1]:.2f} ms, "
                       f"max {r['fsync'][2]:.1f} ms; the database held {r['db_mb']:,.0f} MB when it started")
        if r.get("records"):
            out.append(f"- {r['what']}: {r['records']:,} audit records, chain verified"
                       + (f", {r['n'] / max(1, r['batches']):.1f} decisions per commit" if r.get("batches") else ""))
    return out


# main ------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="service processes to try")
    ap.add_argument("--rates", type=float, nargs="*", default=[TARGET_RATE],
                    help="offered proposals/s for the latency runs (open loop)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-gateway", action="store_true", help="skip the in-process gateway run")
    ap.add_argument("--no-cold", action="store_true",
                    help="skip the service run that measures every blast radius (BLASTWALL_RADIUS_MEMO=0)")
    ap.add_argument("--baseline-src", help="also run a 1-process service from this source tree (before/after)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS-service.md"))
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.warmup = 3.0, 1.0
    agents = agent_names(args.agents)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-service-", dir=os.environ.get("BENCH_TMP")) as name:
        tmp = Path(name)
        principals, policy = write_inputs(tmp, agents)
        args.fsync = fsync_probe(tmp)
        results = [bench_engine(policy, args.seconds), bench_engine(policy, args.seconds, cold=True)]
        show(results[0])
        show(results[1])
        if not args.no_gateway:
            results.append(bench_gateway(tmp, policy, agents, args.seconds))
            show(results[-1])
        if args.baseline_src:
            for r in bench_http(tmp, principals, policy, agents, 1, args.warmup, args.seconds, [], args.baseline_src):
                r["baseline"] = True
                results.append(r)
                show(r)
        for w in args.workers:
            for r in bench_http(tmp, principals, policy, agents, w, args.warmup, args.seconds, args.rates):
                results.append(r)
                show(r)
        for r in bench_http(tmp, principals, policy, agents, max(args.workers), args.warmup, args.seconds,
                            args.rates, fresh=True):
            r["fresh"] = True
            results.append(r)
            show(r)
        if not args.no_cold:
            for r in bench_http(tmp, principals, policy, agents, max(args.workers), args.warmup, args.seconds,
                                args.rates, cold=True):
                r["cold"] = True
                results.append(r)
                show(r)
    report(args, results, load0)


def show(r: dict) -> None:
    print(f"{r['what']}: {r['rate']:,.0f} decisions/s, p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms", flush=True)


def verdicts(results: list[dict]) -> list[str]:
    """Throughput from the saturation runs; latency from the runs at the target rate."""
    http = [r for r in results if r["name"] == "http" and not r.get("baseline") and not r.get("cold")
            and not r.get("fresh")]
    best = max((r for r in http if r["offered"] is None), key=lambda r: r["rate"])
    out = [f"- Throughput: {best['rate']:,.0f} decisions/s at most ({best['what']}): "
           f"{'meets' if best['rate'] >= TARGET_RATE else 'MISSES'} the {TARGET_RATE:,}/s target."]
    at_target = [r for r in http if r["offered"] == TARGET_RATE]
    if at_target:
        r = min(at_target, key=lambda r: r["p99"])
        kept = r["rate"] >= 0.98 * TARGET_RATE and not r.get("errors")
        out.append(f"- Latency at {TARGET_RATE:,}/s offered: p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                   f"{r['rate']:,.0f}/s answered ({r['what']}): "
                   f"{'meets' if kept and r['p99'] <= TARGET_P99_MS else 'MISSES'} p99 <= {TARGET_P99_MS:g} ms.")
    within = [r for r in http if r["offered"] and r["rate"] >= 0.98 * r["offered"] and not r.get("errors")
              and r["p99"] <= TARGET_P99_MS]
    if within:
        r = max(within, key=lambda r: r["rate"])
        out.append(f"- Highest offered rate measured with p99 <= {TARGET_P99_MS:g} ms: {r['offered']:,.0f}/s "
                   f"(p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms; {r['what']}).")
    else:
        out.append(f"- No offered rate measured kept p99 <= {TARGET_P99_MS:g} ms in this run.")
    grown = {r["workers"]: r["db_mb"] for r in at_target}
    for r in (r for r in results if r.get("fresh") and r["offered"] == TARGET_RATE):
        before = grown.get(r["workers"])
        out.append(f"- On a new database: at {TARGET_RATE:,}/s offered p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                   f"{r['rate']:,.0f}/s answered ({r['what']})"
                   + (f"; the row above at this rate started on {before:,.0f} MB written by the rows before it"
                      if before is not None else "") + ".")
    cold = [r for r in results if r.get("cold")]
    if cold:
        sat = max(cold, key=lambda r: r["rate"] if r["offered"] is None else 0)
        at = [r for r in cold if r["offered"] == TARGET_RATE]
        out.append(f"- Cold (every blast radius measured, none kept): {sat['rate']:,.0f} decisions/s at most"
                   + (f"; at {TARGET_RATE:,}/s offered p50 {at[0]['p50']:.2f} ms, p99 {at[0]['p99']:.2f} ms, "
                      f"{at[0]['rate']:,.0f}/s answered" if at else "") + ".")
    out.append(f"- With {best['what'].split(', ')[1].split(' ')[0]} agents each waiting for its answer, latency "
               "in the saturation rows is queueing (Little's law: agents / rate), not service time; the "
               "offered-rate rows (open loop, latency from when each request was due) show service latency.")
    return out


def report(args, results: list[dict], load0: float) -> None:
    engine = results[0]
    best = max((r for r in results if r["name"] == "http" and not r.get("baseline") and not r.get("cold")),
               key=lambda r: r["rate"])
    lines = [
        f"## Run of {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC", "",
        f"On {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; load average {load0:.1f} when it started (other work on the machine "
        f"competes for the cores); fdatasync of a 4 KiB overwrite {args.fsync[0]:.2f} ms median, "
        f"{args.fsync[1]:.2f} ms p99.  Command: `{' '.join(['python bench/bench_service.py', *sys.argv[1:]])}`; "
        f"{args.seconds:g} s measured per row after {args.warmup:g} s of warm-up, {len(proposals())} distinct "
        "proposals on the sample fleet.", "",
        *verdicts(results),
        f"- HTTP + durable audit: the service answers {best['rate'] / engine['rate']:.2f}x the decisions per second "
        f"of the bare engine on one thread, at {best['cpu_ms'] / engine['cpu_ms']:.1f}x its CPU time per decision.",
        "- The load generator (one asyncio process) runs on the same 2 cores: its share is in the table.", "",
        *table(results, engine), "", *notes(results), "",
    ]
    save_run(Path(args.out), TITLE, "\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {args.out}")


TITLE = "# Decisions per second over HTTP (bench/bench_service.py)"


def fsync_probe(directory: Path, n: int = 100) -> tuple[float, float]:
    """(median, p99) ms of fdatasync at rest: what one durable commit waits for here."""
    times = fsync_times(directory, n)
    return times[n // 2] * 1e3, times[int(n * 0.99)] * 1e3


if __name__ == "__main__":
    main()
