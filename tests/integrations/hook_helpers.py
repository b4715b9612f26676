"""Run `blastwall hook ...` as the agents do: a subprocess, JSON on stdin."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = Path(__file__).resolve().parent / "payloads"
MAPPING = PAYLOADS / "mapping.yaml"
FLEET = ROOT / "tests" / "scenarios" / "shared" / "acme-fleet.json"
BLASTWALL = [sys.executable, "-c", "from blastwall.cli.main import main; main()"]


@dataclass
class HookRun:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> dict:
        return json.loads(self.stdout)["hookSpecificOutput"]

    @property
    def permission(self) -> str | None:
        """Claude Code's permissionDecision, or None when the hook printed no decision."""
        return self.output["permissionDecision"] if self.stdout.strip() else None


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def run_hook(agent: str, stdin: bytes, *args: str, env: dict | None = None, timeout: float = 60) -> HookRun:
    options = list(args) or ["--inventory", str(FLEET), "--mapping", str(MAPPING)]
    proc = subprocess.run([*BLASTWALL, "hook", agent, *options], input=stdin, capture_output=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=ROOT)
    return HookRun(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
