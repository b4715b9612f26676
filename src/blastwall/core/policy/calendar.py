"""Freezes (one-off periods) and recurring change windows, evaluated at an injected 'now'."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from blastwall.errors import PolicyError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Freeze:
    name: str
    start: datetime
    end: datetime
    scope: Mapping[str, Any]

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class Window:
    """Changes touching ``scope`` may run only inside one of its scope's windows."""
    name: str
    scope: Mapping[str, Any]
    tz: ZoneInfo
    days: frozenset[int]
    start: time
    end: time

    def open(self, now: datetime) -> bool:
        local = now.astimezone(self.tz)
        t, day = local.time(), local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        # crosses midnight: the part after midnight belongs to the previous day's window
        return (day in self.days and t >= self.start) or ((day - 1) % 7 in self.days and t < self.end)


def scope_key(scope: Mapping[str, Any]) -> str:
    return json.dumps(scope, sort_keys=True)


def closed_scopes(windows: list[Window], now: datetime) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """scope key -> (window names, scope) for every scope none of whose windows is open."""
    groups: dict[str, list[Window]] = {}
    for w in windows:
        groups.setdefault(scope_key(w.scope), []).append(w)
    return {k: ("/".join(w.name for w in ws), ws[0].scope)
            for k, ws in groups.items() if not any(w.open(now) for w in ws)}


def parse_freeze(raw: Any, where: str, check_scope) -> Freeze:
    if not isinstance(raw, Mapping):
        raise PolicyError("a freeze must be an object", field=where)
    name = _name(raw, where)
    start, end = _instant(raw.get("start"), f"{where}.start"), _instant(raw.get("end"), f"{where}.end")
    if end <= start:
        raise PolicyError("'end' must be after 'start'", field=f"{where}.end")
    return Freeze(name, start, end, check_scope(raw.get("scope", {}), f"{where}.scope"))


def parse_window(raw: Any, where: str, check_scope) -> Window:
    if not isinstance(raw, Mapping):
        raise PolicyError("a window must be an object", field=where)
    try:
        tz = ZoneInfo(str(raw.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"unknown time zone {raw.get('timezone')!r}", field=f"{where}.timezone") from None
    days = raw.get("days", list(DAYS[:5]))
    if not isinstance(days, list) or not days or any(str(d).lower()[:3] not in DAYS for d in days):
        raise PolicyError(f"'days' must be a list of {', '.join(DAYS)}", field=f"{where}.days")
    start, end = _clock(raw.get("start"), f"{where}.start"), _clock(raw.get("end"), f"{where}.end")
    if start == end:
        raise PolicyError("'start' and 'end' are equal: the window would never open", field=f"{where}.end")
    return Window(_name(raw, where), check_scope(raw.get("scope", {}), f"{where}.scope"), tz,
                  frozenset(DAYS.index(str(d).lower()[:3]) for d in days), start, end)


def _name(raw: Mapping, where: str) -> str:
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyError("'name' is required", field=f"{where}.name")
    return name


def _instant(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise PolicyError(f"not an ISO-8601 time: {value!r}", field=where) from None
    if not isinstance(value, datetime):
        raise PolicyError("an ISO-8601 time with a UTC offset is required", field=where)
    if value.tzinfo is None:
        raise PolicyError("the time needs a UTC offset or 'Z'", field=where)
    return value


def _clock(value: Any, where: str) -> time:
    if isinstance(value, int) and not isinstance(value, bool):    # YAML 1.1 reads 09:00 as 540
        value = f"{value // 60:02d}:{value % 60:02d}"
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"not a time of day HH:MM: {value!r}", field=where) from None
