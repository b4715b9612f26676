"""What `blastwall demo` runs on: a demo directory, principals with fresh tokens, and the
service (SQLite, the sample fleet, the recommended policy) on a background thread."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from blastwall.errors import InputError
from blastwall.service.principals import new_token

MARK = ".blastwall-demo"          # marks a directory as the demo's own: safe to delete and recreate
PROD_CN_US = {"environments": ["prod", "staging", "dev"], "regions": ["cn-north-1", "cn-northwest-1", "us-east-1"],
              "max_customers": 100000, "max_fleet_fraction": 0.5}
PROD_EU = {"environments": ["prod"], "regions": ["eu-west-1"], "max_customers": 100000, "max_fleet_fraction": 0.5}
PEOPLE = {
    "kiro-ops-7": {"kind": "agent", "operator": "alice"},
    "alice": {"kind": "human", "roles": ["approver"], "authority": PROD_CN_US},
    "bob": {"kind": "human", "roles": ["approver", "kill-switch"], "authority": PROD_CN_US},
    "carol": {"kind": "human", "roles": ["approver"], "authority": PROD_CN_US},
    "erin": {"kind": "human", "roles": ["approver"], "authority": PROD_EU},
}


@dataclass(frozen=True)
class DemoSite:
    dir: Path
    inventory: Path
    principals: Path
    tokens_file: Path
    key: Path
    db: Path
    tokens: dict[str, str]

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db}"


def make_site(directory: str | Path) -> DemoSite:
    """Recreate ``directory`` with the sample fleet, principals (token hashes) and their tokens."""
    path = _recreate(Path(directory))
    inventory = path / "sample-fleet.json"
    inventory.write_bytes(resources.files("blastwall").joinpath("data/sample-fleet.json").read_bytes())
    tokens = {name: new_token() for name in PEOPLE}
    principals = path / "principals.yaml"
    principals.write_text(yaml.safe_dump({"principals": [
        {"name": name, "token_sha256": tokens[name][1], **json.loads(json.dumps(person))}
        for name, person in PEOPLE.items()]}, sort_keys=False))
    tokens_file = path / "tokens.json"
    _write_secret(tokens_file, json.dumps({name: t for name, (t, _) in tokens.items()}, indent=2) + "\n")
    return DemoSite(path, inventory, principals, tokens_file, path / "audit.key", path / "blastwall.db",
                    {name: t for name, (t, _) in tokens.items()})


def _recreate(path: Path) -> Path:
    """Delete and make ``path`` again, but never delete a directory the demo did not make."""
    if path.exists():
        if not path.is_dir() or (any(path.iterdir()) and not (path / MARK).is_file()):
            raise InputError(f"{path} exists and was not made by `blastwall demo`; not deleting it "
                             "(choose another --dir)", field="--dir")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARK).write_text("made by `blastwall demo`: deleted and made again by every run\n")
    return path


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def listening_socket(preferred: int, host: str = "127.0.0.1") -> socket.socket:
    """A socket listening on ``preferred`` when it is free, else on any free port (0 asks for any).
    The server is handed this very socket, so nothing can take the port in between."""
    try:
        return socket.create_server((host, preferred))
    except OSError:
        return socket.create_server((host, 0))


class BackgroundServer:
    """uvicorn serving ``app`` on a daemon thread (no signal handlers: the caller handles Ctrl-C)."""

    def __init__(self, app, sock: socket.socket) -> None:
        import uvicorn
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                   access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       name="blastwall-demo-server", daemon=True)

    def start(self, timeout: float = 30.0) -> "BackgroundServer":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise InputError(f"the demo service could not start on {self.url} (port taken?)", field="--port")
            time.sleep(0.02)
        return self

    def wait(self) -> None:
        """Until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self.thread.is_alive():
            self.thread.join(0.5)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
