"""The library entry point: load inputs once, decide many proposals."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from blastwall.core.decide import Context, decide
from blastwall.core.graph import Fleet
from blastwall.core.impact import BlastRadius, blast_radius, resolve
from blastwall.core.model import Decision, Proposal
from blastwall.core.policy import Policy
from blastwall.core.proposal import parse_proposal
from blastwall.loaders.inventory import load_inventory
from blastwall.loaders.policy import load_policy

MAX_FILE_READ = 16 * 2**20


def local_files(base: Path | None = None):
    """A FileReader over the local disk, for kubectl -f (None when unreadable)."""
    root = base or Path.cwd()

    def read(name: str) -> str | None:
        path = (root / name) if not Path(name).is_absolute() else Path(name)
        try:
            if not path.is_file() or path.stat().st_size > MAX_FILE_READ:
                return None
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return read


@dataclass
class Engine:
    fleet: Fleet
    policy: Policy

    @classmethod
    def load(cls, inventory: str | Path, policy: str | Path | None = None) -> "Engine":
        return cls(load_inventory(inventory), load_policy(policy))

    def decide(self, proposal: Proposal | dict[str, Any], *, now: datetime | None = None,
               kill_switch: bool = False, files=None) -> Decision:
        if not isinstance(proposal, Proposal):
            proposal = parse_proposal(proposal, files)
        ctx = Context(now=now or datetime.now(timezone.utc), kill_switch=kill_switch)
        return decide(self.fleet, self.policy, proposal, ctx)

    def blast_radius(self, proposal: Proposal) -> BlastRadius:
        return blast_radius(self.fleet, resolve(self.fleet, proposal.operations))
