"""Message templates: ``{impact.customers:,}`` style placeholders over the facts."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z_0-9]+)+)(?::([^{}]*))?\}")


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def parse(template: str) -> tuple:
    """Literal text and (name, spec) placeholders, alternating: a template split once, rendered often."""
    pieces = _PLACEHOLDER.split(template)          # text, name, spec, text, name, spec, ..., text
    return tuple(pieces[i] if i % 3 == 0 else (pieces[i], pieces[i + 1] or "")
                 for i in range(len(pieces)) if i % 3 != 2)


def render_parts(parts: tuple, facts: Mapping[str, Any]) -> str:
    if len(parts) == 1:
        return parts[0]
    return "".join(p if i % 2 == 0 else _format(facts.get(p[0], "?"), p[1]) for i, p in enumerate(parts))


def _format(value: Any, spec: str) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not spec and isinstance(value, int):
        return f"{value:,}"
    if not spec and isinstance(value, float):
        return f"{value:,.2f}"
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        return str(value)
