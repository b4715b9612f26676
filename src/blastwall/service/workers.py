"""`blastwall serve --workers N`: N service processes on one port.

One Python process decides on one core at a time (the GIL), so on a machine with
several cores N processes decide N at a time.  The parent opens one listening socket
per worker on the same port (SO_REUSEPORT, so the kernel spreads connections evenly:
with one shared socket, whichever worker is idle at a burst accepts most of them and
stays the busier one) and starts each worker as an ordinary
`blastwall serve --listen-fd FD` process; they share the
store (SQLite: WAL, one writer at a time through a file lock; PostgreSQL: as
replicas).  The parent passes SIGHUP (reload) on to the workers, stops them all on
SIGINT or SIGTERM or when one dies, and runs the checkpoint thread if asked to.
Metrics of all workers are added up through files in a directory of the parent's.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from blastwall.service.metrics import MULTIPROC_ENV

SERVE = "from blastwall.cli.main import main; main()"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def listen(host: str, port: int, shared: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _listeners(n: int, host: str, port: int) -> list[socket.socket]:
    """``n`` listening sockets on one port (the first picks it when ``port`` is 0)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return [listen(host, port)] * n                # one shared socket where the kernel cannot spread
    if port:
        listen(host, port).close()                     # taken (another service)? fail as a plain bind would,
                                                       # rather than silently share its connections
    first = listen(host, port, shared=True)
    return [first] + [listen(host, first.getsockname()[1], shared=True) for _ in range(n - 1)]


PARENT_ENV = "BLASTWALL_WORKERS_PARENT"


def die_with_parent() -> None:
    """In a worker: stop (SIGTERM) when the parent dies, even by SIGKILL, instead of serving on as
    an orphan (Linux; elsewhere the parent's normal stop is all there is)."""
    parent = parent_pid()
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)              # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:                     # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def parent_pid() -> int:
    return int(os.environ.get(PARENT_ENV) or os.getppid())


def _writer_server(store, directory: str):
    path = os.path.join(directory, "writer.sock")
    if store is None or not hasattr(store, "serve_writer") or len(path.encode()) > 100:   # AF_UNIX path limit
        return None
    return store.serve_writer(path)


class Workers:
    """The worker processes of one `serve --workers N`."""

    def __init__(self, n: int, host: str, port: int, serve_args: list[str], store=None) -> None:
        """``store``: the parent's store; its writer commits the workers' proposals (store/remote.py)."""
        self.socks = _listeners(n, host, port)
        self.metrics_dir = tempfile.mkdtemp(prefix="blastwall-metrics-")
        env = {**os.environ, MULTIPROC_ENV: self.metrics_dir, PARENT_ENV: str(os.getpid())}
        self.writer = _writer_server(store, self.metrics_dir)
        if self.writer is not None:
            serve_args = [*serve_args, "--writer-socket", self.writer.path]
        args = [sys.executable, "-c", SERVE, "serve", *serve_args, "--listen-fd"]
        self.procs = [subprocess.Popen([*args, str(s.fileno())], env=env, pass_fds=(s.fileno(),))
                      for s in self.socks]
        self._stopping = False

    def run(self) -> int:
        """Until a stop signal or a worker's death; returns the exit status."""
        previous = {s: signal.signal(s, self._stop) for s in STOP_SIGNALS}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._forward)
        try:
            while not self._stopping:
                dead = [p for p in self.procs if p.poll() is not None]
                if dead:
                    print(f"blastwall: worker {dead[0].pid} exited ({dead[0].returncode}); stopping the others",
                          file=sys.stderr)
                    return self.stop() or 1
                time.sleep(0.2)
            return self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _forward(self, signum, _frame) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signum)

    def _stop(self, _signum, _frame) -> None:
        self._stopping = True

    def stop(self, timeout: float = 30.0) -> int:
        """Stop every worker (SIGTERM, then SIGKILL after ``timeout``); 0 when all ended cleanly."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s in self.socks:
            s.close()
        if self.writer is not None:
            self.writer.close()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return 0 if all(p.returncode in (0, -signal.SIGTERM) for p in self.procs) else 1
