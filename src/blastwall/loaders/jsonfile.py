"""A JSON document read from a file: bounded in size, UTF-8, errors naming the file and line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from blastwall.errors import BlastwallError


def read_json_file(path: str | Path, max_bytes: int, error: type[BlastwallError]) -> Any:
    """The parsed document; ``error`` (with the file as its source) for a missing, oversized,
    unreadable, non-UTF-8 or invalid file.  Pipes work too (``<(kubectl get ... -o json)``):
    the size is counted as it is read."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise error("no such file", source=source) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", source=source) from None
    if len(data) > max_bytes:
        raise error(f"file larger than {max_bytes >> 20} MiB", source=source)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte {exc.start})", source=source) from None
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON: {exc.msg}", source=source, line=exc.lineno) from None
    except RecursionError:
        raise error("JSON nested too deeply", source=source) from None
