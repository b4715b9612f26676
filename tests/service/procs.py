"""Real `blastwall serve` processes for process-level tests."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from blastwall.service.principals import hash_token
from tests.conftest import SAMPLE_FLEET
from tests.service.conftest import PEOPLE, token

SERVE = "from blastwall.cli.main import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_principals(path: Path) -> Path:
    doc = {"principals": [{"name": n, "token_sha256": hash_token(token(n)), **p} for n, p in PEOPLE.items()]}
    path.write_text(yaml.safe_dump(json.loads(json.dumps(doc))))   # no YAML anchors for shared dicts
    return path


class Service:
    def __init__(self, tmp: Path, db: str, policy: Path | None = None, inventory: Path = SAMPLE_FLEET,
                 extra_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        principals = write_principals(tmp / "principals.yaml")
        args = [sys.executable, "-c", SERVE, "serve", "--inventory", str(inventory), "--principals", str(principals),
                "--db", db, "--port", str(self.port)]
        if policy:
            args += ["--policy", str(policy)]
        args += list(extra_args)
        self.log = (tmp / f"serve-{self.port}.log").open("w")
        self.workers = "--workers" in extra_args
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> "Service":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited {self.proc.returncode}: {Path(self.log.name).read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self._every_worker_ready(deadline)
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("service did not become ready")

    def _every_worker_ready(self, deadline: float) -> "Service":
        """One answer shows one worker up.  The kernel spreads fresh connections over the workers'
        sockets, and a connection to a worker still starting waits for it: 24 answered in a row on
        fresh connections means every worker has loaded its files (a test may change them next)."""
        if self.workers:
            for _ in range(24):
                if httpx.get(self.url + "/healthz", timeout=max(1.0, deadline - time.monotonic())).status_code != 200:
                    raise RuntimeError(f"a worker is not ready: {Path(self.log.name).read_text()}")
        return self

    def kill(self, sig: int = 9) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.log.close()
