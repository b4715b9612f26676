"""kubectl argv -> Operations (placeholder until the kubectl interpreter lands)."""
from __future__ import annotations

from blastwall.core.model import Operation, opaque


def interpret_kubectl(argv, files=None) -> list[Operation]:
    return [opaque(" ".join(argv))]
