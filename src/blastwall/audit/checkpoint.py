"""Signed checkpoints of the audit chain: Ed25519 over (tree size, Merkle root, time).

Text form (a small signed note; the signature covers every line above the blank one)::

    blastwall-audit-checkpoint v1
    size 1234
    root 5f1c...e9
    at 2026-03-04T12:00:00.000000+00:00

    sig BASE64

Keep an exported checkpoint (and the public key) away from the database: ``blastwall
audit verify --checkpoint FILE --public-key FILE`` then catches a history rewritten or
truncated after it was taken, even when every hash was recomputed.
"""
from __future__ import annotations

import base64
import os
import re
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from blastwall.audit.chain import Verifier, iso, parse_iso
from blastwall.errors import BlastwallError, InputError
from blastwall.store.base import Store

HEADER = "blastwall-audit-checkpoint v1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class CheckpointError(InputError):
    code = "bad_checkpoint"


class ChainBroken(BlastwallError):
    """The chain does not verify: no checkpoint is signed over it."""
    code = "audit_chain_broken"


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: str
    at: datetime
    sig: bytes = b""

    def body(self) -> bytes:
        return f"{HEADER}\nsize {self.size}\nroot {self.root}\nat {iso(self.at)}\n".encode("ascii")

    def signed(self, key: Ed25519PrivateKey) -> Checkpoint:
        return replace(self, sig=key.sign(self.body()))

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(self.sig, self.body())
            return True
        except InvalidSignature:
            return False

    # text and dict forms -------------------------------------------------------------------
    def to_text(self) -> str:
        return self.body().decode("ascii") + "\n" + f"sig {base64.b64encode(self.sig).decode('ascii')}\n"

    @classmethod
    def from_text(cls, text: str, source: str | None = None) -> Checkpoint:
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()

        def fail(msg: str, line: int | None = None):
            raise CheckpointError(msg, source=source, line=line)
        if len(lines) != 6 or lines[0] != HEADER or lines[4] != "":
            fail(f"not a checkpoint: expected '{HEADER}', size, root, at, a blank line and sig")
        fields = {}
        for n, name in ((2, "size"), (3, "root"), (4, "at"), (6, "sig")):
            key, _, value = lines[n - 1].partition(" ")
            if key != name or not value:
                fail(f"expected '{name} ...'", n)
            fields[name] = value
        try:
            size = int(fields["size"])
            at = parse_iso(fields["at"])
            sig = base64.b64decode(fields["sig"], validate=True)
        except ValueError as exc:
            fail(f"malformed field: {exc}")
        if size < 0 or not _HEX64.fullmatch(fields["root"]):
            fail("size must be >= 0 and root 64 lowercase hex digits")
        return cls(size, fields["root"], at, sig)

    def to_dict(self) -> dict:
        return {"size": self.size, "root": self.root, "at": iso(self.at),
                "sig": base64.b64encode(self.sig).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict) -> Checkpoint:
        at = d["at"] if isinstance(d["at"], datetime) else parse_iso(d["at"])
        return cls(int(d["size"]), d["root"], at, base64.b64decode(d.get("sig") or ""))


# keys ------------------------------------------------------------------------------------
def generate_key(path: str | Path) -> Ed25519PrivateKey:
    """A new signing key in ``path`` (PKCS#8 PEM, mode 0600) and its public key in ``path.pub``."""
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError("exists already; not overwriting a key", source=str(path)) from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    Path(f"{path}.pub").write_text(public_key_text(key.public_key()))
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    key = _load(path, private=True)
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("not an Ed25519 private key", source=str(path))
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """A public key PEM (or a private key's file: its public half)."""
    key = _load(path, private=False)
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("not an Ed25519 public key", source=str(path))
    return key


def _load(path: str | Path, private: bool):
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read key: {exc.strerror}", source=str(p)) from None
    loaders = [serialization.load_pem_private_key] if private else \
        [serialization.load_pem_public_key, serialization.load_pem_private_key]
    for load in loaders:
        try:
            return load(data, None) if load is serialization.load_pem_private_key else load(data)
        except (ValueError, TypeError):
            continue
    raise InputError("not a PEM key", source=str(p))


# making checkpoints ---------------------------------------------------------------------------
def read_chain(store: Store, verifier: Verifier, upto: int, page: int = 5000) -> None:
    """Feed records after those already fed, up to seq ``upto``."""
    while verifier.result.size < upto:
        records = store.audit_records(after_seq=verifier.result.size, limit=min(page, upto - verifier.result.size))
        if not records:
            break
        for rec in records:
            verifier.feed(rec)


def make_checkpoint(store: Store, key: Ed25519PrivateKey, now: datetime,
                    verifier: Verifier | None = None) -> Checkpoint:
    """Verify the chain up to the current head and sign a checkpoint over it (not saved)."""
    verifier = verifier or Verifier()
    size, head_hash = store.audit_head()
    read_chain(store, verifier, size)
    res = verifier.result
    if res.problems or res.size != size or (size and res.head != head_hash):
        why = "; ".join(map(str, res.problems)) or f"head says seq {size}, records end at {res.size}"
        raise ChainBroken(f"the audit chain does not verify, not signing: {why}")
    return Checkpoint(size, verifier.root(), now).signed(key)


class Checkpointer:
    """Signs and saves a checkpoint every ``every_records`` new records or ``every_seconds``
    (whichever comes first, and only when there is something new).  Keeps a running Merkle
    accumulator, so each call reads only the records added since the last one."""

    def __init__(self, key: Ed25519PrivateKey, every_records: int = 1000, every_seconds: float = 300.0) -> None:
        self.key, self.every_records, self.every_seconds = key, every_records, every_seconds
        self._verifier = Verifier()
        self._last: tuple[int, datetime] | None = None    # (size, at) of the last checkpoint
        self._lock = threading.Lock()

    def maybe_checkpoint(self, store: Store, now: datetime) -> Checkpoint | None:
        with self._lock:
            if self._last is None:
                saved = store.checkpoints()
                last = Checkpoint.from_dict(saved[-1]) if saved else None
                self._last = (last.size, last.at) if last else (0, now)
            size, _ = store.audit_head()
            last_size, last_at = self._last
            if size <= last_size:
                return None
            if size - last_size < self.every_records and (now - last_at).total_seconds() < self.every_seconds:
                return None
            cp = make_checkpoint(store, self.key, now, self._verifier)
            store.save_checkpoint(cp.to_dict())
            self._last = (cp.size, now)
            return cp
