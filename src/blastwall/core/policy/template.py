"""Message templates: ``{impact.customers:,}`` style placeholders over the facts."""
from __future__ import annotations

import re
from typing import Any, Mapping

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z_0-9]+)+)(?::([^{}]*))?\}")


def placeholders(template: str) -> list[str]:
    return [m.group(1) for m in _PLACEHOLDER.finditer(template)]


def render(template: str, facts: Mapping[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: _format(facts.get(m.group(1), "?"), m.group(2) or ""), template)


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
