"""Principals (agents and humans) from a config file; bearer tokens stored only as SHA-256 hashes."""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from blastwall.core.authority import Authority, Principal
from blastwall.errors import InputError
from blastwall.loaders.yamlsafe import load_yaml_with_lines

ROLES = frozenset({"approver", "kill-switch", "admin"})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token, its hash): the token is shown once; only the hash is stored."""
    token = "bw_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


@dataclass(frozen=True)
class Directory:
    by_hash: dict[str, Principal]
    by_name: dict[str, Principal]
    revision: str = ""                # of the file it was read from (a reload records it)

    def authenticate(self, token: str | None) -> Principal | None:
        """One dict lookup by the token's SHA-256: the lookup key is a hash of the secret, so its
        timing tells nothing useful about any stored token."""
        if not token:
            return None
        return self.by_hash.get(hash_token(token))


def load_principals(path: str | Path) -> Directory:
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the principals file: {exc}", source=str(path)) from None
    doc, _ = load_yaml_with_lines(text, str(path))
    directory = parse_principals(doc, str(path))
    return replace(directory, revision="sha256:" + hashlib.sha256(raw).hexdigest()[:16])


def parse_principals(doc: Any, source: str = "<principals>") -> Directory:
    items = doc.get("principals") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise InputError("'principals' must be a non-empty list", source=source, field="principals")
    by_hash, by_name, by_key = {}, {}, {}
    for i, raw in enumerate(items):
        principal, digest = _parse_one(raw, f"principals[{i}]", source)
        if principal.name in by_name or digest in by_hash:
            raise InputError("duplicate principal name or token", source=source, field=f"principals[{i}]")
        if name_key(principal.name) in by_key:
            raise InputError(f"'{principal.name}' differs from principal '{by_key[name_key(principal.name)]}' "
                             "only in case or character form", source=source, field=f"principals[{i}].name")
        by_hash[digest], by_name[principal.name], by_key[name_key(principal.name)] = principal, principal, principal.name
    _check_operators(items, by_name, by_key, source)
    return Directory(by_hash, by_name)


def name_key(name: str) -> str:
    """Names that look the same to a human compare equal here (case, compatibility forms)."""
    return unicodedata.normalize("NFKC", name).casefold()


def _check_operators(items: list, by_name: dict, by_key: dict, source: str) -> None:
    """An operator spelled like a principal must be that principal exactly: 'Alice' operating an
    agent would otherwise let alice approve her own agent's changes."""
    for i, raw in enumerate(items):
        operator = raw.get("operator")
        if operator in (None, ""):
            continue
        if not isinstance(operator, str):
            raise InputError("'operator' must be a principal's name", source=source, field=f"principals[{i}].operator")
        same = by_key.get(name_key(operator))
        if same is not None and same != operator:
            raise InputError(f"operator '{operator}' must be written exactly as principal '{same}'",
                             source=source, field=f"principals[{i}].operator")


def _parse_one(raw: Any, where: str, source: str) -> tuple[Principal, str]:
    def fail(msg: str, fld: str) -> InputError:
        return InputError(msg, source=source, field=f"{where}.{fld}")
    if not isinstance(raw, dict):
        raise InputError("a principal is an object", source=source, field=where)
    name, kind, digest = raw.get("name"), raw.get("kind"), raw.get("token_sha256")
    if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
        raise fail("'name' is required (no spaces)", "name")
    if kind not in ("agent", "human"):
        raise fail("'kind' must be agent or human", "kind")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise fail("'token_sha256' must be the hex SHA-256 of the token (blastwall principals token)", "token_sha256")
    roles = frozenset(raw.get("roles", []))
    if roles - ROLES or (roles and kind == "agent"):
        raise fail(f"roles are {', '.join(sorted(ROLES))}, for humans only", "roles")
    authority = Authority.parse(raw.get("authority"), f"{where}.authority")
    return Principal(name, kind, roles, str(raw.get("operator", "")), authority), digest
