"""A throwaway PostgreSQL server from the installed binaries (never mocked).

initdb into a temporary directory, ``postgres`` on a Unix socket in that directory
(fsync on), run as the ``postgres`` system user when we are root (PostgreSQL refuses
to run as root; the user is created if missing).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "PostgreSQL server binaries not found: apt-get install postgresql (needs initdb and postgres)"


def find_bindir() -> Path | None:
    """``pg_config --bindir``, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of the ``postgres`` user when we are root (created if needed), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                       check=True, capture_output=True)
        pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


class PgServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="blastwall-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._ids = _run_as()
        if self._ids:
            os.chown(self.root, *self._ids)
            os.chmod(self.root, 0o700)
        self._sub(["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--locale=C", "--no-sync"], check=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.root}&port={self.port}"

    def _sub(self, args: list[str], check: bool = False, **kw):
        extra = {"user": self._ids[0], "group": self._ids[1]} if self._ids else {}
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True,
                              check=check, cwd=self.root, **extra, **kw)

    def start(self, timeout: float = 30.0) -> None:
        extra = {"user": self._ids[0], "group": self._ids[1]} if self._ids else {}
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-k", str(self.root), "-p", str(self.port),
                "-c", "listen_addresses=", "-c", "fsync=on", "-c", "synchronous_commit=on",
                "-c", "max_connections=200", "-c", "shared_buffers=64MB"]
        self.log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root, **extra)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'server.log').read_text()[-2000:]}")
            ready = self._sub(["pg_isready", "-h", str(self.root), "-p", str(self.port), "-U", "postgres"])
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready")

    def stop(self, immediate: bool = False) -> None:
        """Fast shutdown (a checkpoint, sessions ended), or immediate (no checkpoint: a crash)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT if immediate else signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()

    def create_schema(self, name: str) -> str:
        """A fresh, empty namespace (cheaper than a database); the URL selects it."""
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return self.url() + f"&options=-csearch_path%3D{name}"

    def destroy(self) -> None:
        self.stop(immediate=True)                         # throwaway data: skip the shutdown checkpoint
        shutil.rmtree(self.root, ignore_errors=True)
