"""Shell strings -> Operations (placeholder until the shell interpreter lands)."""
from __future__ import annotations

from blastwall.core.interpret.argv import FileReader
from blastwall.core.model import Operation, opaque


def interpret_shell(command: str, files: FileReader | None = None) -> list[Operation]:
    return [opaque(command)]
