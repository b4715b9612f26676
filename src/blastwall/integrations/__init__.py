"""Front doors for agents: SDK client, in-process gate, MCP, hooks.

``Gate``, ``Denied``, ``ApprovalRequired``, ``Client`` and ``AsyncClient`` load
on first use, so importing a submodule (a hook's mapping) stays cheap.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Gate": "blastwall.integrations.gate",
    "Denied": "blastwall.integrations.gate",
    "ApprovalRequired": "blastwall.integrations.gate",
    "Client": "blastwall.integrations.client",
    "AsyncClient": "blastwall.integrations.client",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'blastwall.integrations' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
