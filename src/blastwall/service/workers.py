"""`blastwall serve --workers N`: N service processes sharing one listening socket.

One Python process decides on one core at a time (the GIL), so on a machine with
several cores N processes decide N at a time.  The parent binds the socket and starts
each worker as an ordinary `blastwall serve --listen-fd FD` process; they share the
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


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Workers:
    """The worker processes of one `serve --workers N`."""

    def __init__(self, n: int, host: str, port: int, serve_args: list[str]) -> None:
        self.sock = listen(host, port)
        self.metrics_dir = tempfile.mkdtemp(prefix="blastwall-metrics-")
        env = {**os.environ, MULTIPROC_ENV: self.metrics_dir}
        args = [sys.executable, "-c", SERVE, "serve", *serve_args, "--listen-fd", str(self.sock.fileno())]
        self.procs = [subprocess.Popen(args, env=env, pass_fds=(self.sock.fileno(),)) for _ in range(n)]
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
        self.sock.close()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return 0 if all(p.returncode in (0, -signal.SIGTERM) for p in self.procs) else 1
