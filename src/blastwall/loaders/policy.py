"""Policy files and the built-in policy -> compiled Policy."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from blastwall.core.policy import Policy, compile_policy
from blastwall.errors import PolicyError
from blastwall.loaders.yamlsafe import load_yaml_with_lines


@lru_cache(maxsize=1)
def builtin_policy_doc() -> dict:
    text = resources.files("blastwall.core.policy").joinpath("builtin.yaml").read_text()
    return yaml.safe_load(text)


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in ``path``, or the built-in recommended policy when None."""
    if path is None:
        return compile_policy(None, builtin_policy_doc())
    path = Path(path)
    if not path.is_file():
        raise PolicyError("no such policy file", source=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PolicyError("not UTF-8 text", source=str(path)) from None
    doc, _ = load_yaml_with_lines(text, str(path), error=PolicyError)
    try:
        return compile_policy(doc, builtin_policy_doc())
    except PolicyError as exc:
        exc.source = str(path)
        raise PolicyError(exc.message, source=str(path), field=exc.field) from None


def policy_from_text(text: str, source: str = "<policy>") -> Policy:
    doc, _ = load_yaml_with_lines(text, source, error=PolicyError)
    return compile_policy(doc, builtin_policy_doc())
