"""argv -> Operations: dispatch on the command word."""
from __future__ import annotations

from typing import Callable, Sequence

from blastwall.core.model import Operation, opaque
from blastwall.errors import ProposalError

# Reads a file named in an artifact (kubectl -f); None when it cannot be read.
FileReader = Callable[[str], "str | None"]


def interpret_argv(argv: Sequence[str], files: FileReader | None = None) -> list[Operation]:
    if not argv:
        raise ProposalError("argv is empty", field="argv")
    from blastwall.core.interpret.kubectl import interpret_kubectl
    name = argv[0].rsplit("/", 1)[-1]
    if name == "kubectl":
        return interpret_kubectl(list(argv), files)
    return [opaque(" ".join(argv))]
