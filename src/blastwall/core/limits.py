"""Rate limits and change budgets: what a change costs against which counters.

Counters live in fixed UTC buckets (this hour, this day).  The pure part here
says which counters a decided change charges and by how much; the store applies
the charges atomically (``Tx.take_budget``), so the limits hold under concurrency.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blastwall.errors import PolicyError

MEASURES = ("changes", "resources", "cost_increase")
WINDOWS = {"hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d"}


@dataclass(frozen=True)
class Limit:
    name: str
    per: str            # agent | env | global
    window: str         # hour | day
    measure: str        # changes | resources | cost_increase
    maximum: float
    env: str | None = None   # per: env — only this environment (None: each environment)


@dataclass(frozen=True)
class Charge:
    key: str
    amount: float
    maximum: float
    limit: str

    def describe(self) -> str:
        return f"limit '{self.limit}' ({self.maximum:g} {self.key.split('|')[1]} per {self.key.split('|')[2]})"


def parse_limits(raw: Any) -> tuple[Limit, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError("'limits' must be a list", field="limits")
    return tuple(_parse_one(item, f"limits[{i}]") for i, item in enumerate(raw))


def _parse_one(item: Any, where: str) -> Limit:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise PolicyError("a limit is an object with a 'name'", field=where)
    per, window = item.get("per", "agent"), item.get("window", "hour")
    if per not in ("agent", "env", "global"):
        raise PolicyError("'per' must be agent, env or global", field=f"{where}.per")
    if window not in WINDOWS:
        raise PolicyError("'window' must be hour or day", field=f"{where}.window")
    given = [m for m in MEASURES if m in item]
    if len(given) != 1:
        raise PolicyError(f"give exactly one of {', '.join(MEASURES)}", field=where)
    value = item[given[0]]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise PolicyError("the maximum must be a non-negative number", field=f"{where}.{given[0]}")
    return Limit(item["name"], per, window, given[0], float(value), item.get("env"))


def charges(limits: tuple[Limit, ...], agent: str, impact: Mapping[str, Any], now: datetime) -> list[Charge]:
    """Counters a non-read change charges (sorted by key so lock order is fixed)."""
    amounts = {"changes": 1.0, "resources": float(impact["resources"]),
               "cost_increase": max(0.0, float(impact["cost_delta_per_month"]))}
    out = []
    for lim in limits:
        bucket = now.strftime(WINDOWS[lim.window])
        for who in _subjects(lim, agent, impact):
            key = f"{lim.name}|{lim.measure}|{lim.window}|{who}|{bucket}"
            out.append(Charge(key, amounts[lim.measure], lim.maximum, lim.name))
    return sorted(out, key=lambda c: c.key)


def _subjects(lim: Limit, agent: str, impact: Mapping[str, Any]) -> list[str]:
    if lim.per == "agent":
        return [f"agent:{agent}"]
    if lim.per == "global":
        return ["global"]
    envs = impact["environments"]
    return [f"env:{e}" for e in envs if lim.env in (None, e)]
