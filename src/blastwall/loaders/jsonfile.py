"""A JSON document read from a file: bounded in size, UTF-8, errors naming the file and line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blastwall.errors import BlastwallError


def read_json_file(path: str | Path, max_bytes: int, error: type[BlastwallError]) -> Any:
    """The parsed document; ``error`` (with the file as its source) for a missing, oversized,
    unreadable, non-UTF-8 or invalid file."""
    source, p = str(path), Path(path)
    try:
        if not p.is_file():
            raise error("no such file", source=source)
        if p.stat().st_size > max_bytes:
            raise error(f"file larger than {max_bytes >> 20} MiB", source=source)
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", source=source) from None
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", source=source) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON: {exc.msg}", source=source, line=exc.lineno) from None
    except RecursionError:
        raise error("JSON nested too deeply", source=source) from None
