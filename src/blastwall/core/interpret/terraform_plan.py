"""Terraform plan JSON -> Operations (placeholder until the plan interpreter lands)."""
from __future__ import annotations

from typing import Any, Mapping

from blastwall.core.model import Operation, opaque


def interpret_plan(plan: Mapping[str, Any]) -> list[Operation]:
    return [opaque("terraform plan")]
