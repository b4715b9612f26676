"""Shared pieces of the MCP tests: a stand-in fleet on PATH, a real service, blastwall MCP subprocesses."""
from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from blastwall.integrations.story import stand_in_kubectl
from tests.conftest import SAMPLE_FLEET
from tests.service.conftest import token
from tests.service.procs import Service

HERE = Path(__file__).resolve().parent
CLI = "from blastwall.cli.main import main; main()"

# A fake terraform: a "binary" plan file here holds its own JSON, which `show -json PLAN` prints;
# `apply` records its argv and working directory.
_FAKE_TERRAFORM = '''import json, os, sys
args = sys.argv[1:]
if args[:2] == ["show", "-json"]:
    print(open(args[2]).read())
else:
    with open({log!r}, "a") as f:
        f.write(json.dumps([os.getcwd(), *args]) + "\\n")
    print("Apply complete! Resources: 1 added, 0 changed, 0 destroyed.")
'''


@dataclass
class Fleet:
    """Stand-in binaries first on PATH, each recording its argv."""
    bin: Path
    kubectl_log: Path
    terraform_log: Path

    def kubectl_calls(self) -> list[list[str]]:
        return _lines(self.kubectl_log)

    def terraform_calls(self) -> list[list[str]]:
        return _lines(self.terraform_log)

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/"), **extra}


def _lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def fleet(tmp_path) -> Fleet:
    bin_dir = tmp_path / "bin"
    f = Fleet(bin_dir, tmp_path / "kubectl.log", tmp_path / "terraform.log")
    stand_in_kubectl(bin_dir, f.kubectl_log)
    script = bin_dir / "terraform.py"
    script.write_text(_FAKE_TERRAFORM.format(log=str(f.terraform_log)))
    exe = bin_dir / "terraform"
    exe.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(script))} \"$@\"\n")
    exe.chmod(0o755)
    return f




@pytest.fixture
def anyio_backend():
    return "asyncio"


def blastwall_args(*args: str) -> list[str]:
    return ["-c", CLI, *args]


def local_mode() -> list[str]:
    return ["--inventory", str(SAMPLE_FLEET), "--agent", "kiro-ops-7", "--operator", "alice"]


def service_mode(svc: Service) -> list[str]:
    return ["--service", svc.url, "--token-env", "BW_TOKEN"]


def agent_env(fleet: Fleet, agent: str = "kiro-ops-7", **extra: str) -> dict[str, str]:
    return fleet.env(BW_TOKEN=token(agent), **extra)


def audit(svc: Service, after: int = 0) -> list[dict]:
    res = httpx.get(f"{svc.url}/v1/audit", params={"after": after, "limit": 10000},
                    headers={"Authorization": f"Bearer {token('root')}"})
    res.raise_for_status()
    return res.json()


def audit_head(svc: Service) -> int:
    records = audit(svc)
    return records[-1]["seq"] if records else 0


def text(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
