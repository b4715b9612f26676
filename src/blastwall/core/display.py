"""Untrusted text made safe to show a human: control characters become visible escapes.

An agent's command or intent may carry terminal escape sequences (move the cursor, erase the
impact line, hide text) or bidirectional overrides (show one order, mean another).  Shown
through ``printable`` each appears as a ``\\x1b`` / ``\\u202e`` escape instead of acting.
"""
from __future__ import annotations

import re

# C0 controls but newline and tab, DEL, C1 controls, bidi embeddings/overrides/isolates, line and
# paragraph separators, zero-width and invisible formatting characters, BOM
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    return _HIDDEN.sub(_escaped, text)
