"""`blastwall audit verify|export|checkpoint|keygen`: check and keep the hash-chained audit log."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import click

from blastwall.audit.chain import Problem, Verifier
from blastwall.audit.checkpoint import (ChainBroken, Checkpoint, generate_key, load_private_key,
                                        load_public_key, make_checkpoint)
from blastwall.audit.export import export_jsonl, iter_records, read_jsonl
from blastwall.cli.main import cli
from blastwall.errors import InputError
from blastwall.store.base import Store, StoreError, open_store

EXIT_OK, EXIT_TAMPERED, EXIT_BAD_INPUT = 0, 1, 2


def _bad_input(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@contextmanager
def _store(url: str):
    """Open an existing store; a SQLite path must exist (never create one to read it)."""
    if not url.startswith(("postgresql://", "postgres://")):
        path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
        if not Path(path).is_file():
            _bad_input(f"{path}: no such database file")
    try:
        store = open_store(url)
    except StoreError as exc:
        _bad_input(f"cannot open the store: {exc}")
    try:
        yield store
    finally:
        store.close()


@cli.group(help="Verify, export and checkpoint the hash-chained audit log.")
def audit() -> None:
    pass


@audit.command(help="Check the chain (and signed checkpoints): exit 0 intact, 1 tampering found, 2 bad input.")
@click.option("--db", "url", help="Store URL: sqlite:///PATH, a path, or postgresql://...")
@click.option("--jsonl", "jsonl", type=click.Path(dir_okay=False), help="Verify an export instead of a store.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False),
              help="An exported checkpoint: the log must still contain exactly what it covers.")
@click.option("--public-key", "public_key_file", type=click.Path(dir_okay=False),
              help="Ed25519 public key (PEM) to check checkpoint signatures with.")
def verify(url, jsonl, checkpoint_file, public_key_file):
    if (url is None) == (jsonl is None):
        _bad_input("give exactly one of --db URL or --jsonl FILE")
    try:
        public_key = load_public_key(public_key_file) if public_key_file else None
        given = Checkpoint.from_text(Path(checkpoint_file).read_text(encoding="utf-8"), checkpoint_file) \
            if checkpoint_file else None
    except (InputError, OSError, UnicodeDecodeError) as exc:
        _bad_input(str(exc))
    problems: list[Problem] = []
    checkpoints = []
    if given is not None:
        if public_key is not None and not given.verify(public_key):
            problems.append(Problem("bad_signature", given.size, f"{checkpoint_file}: the signature does not "
                                    "verify with this key (forged, altered, or signed by another key)"))
        else:
            checkpoints.append(given)
    try:
        if jsonl:
            result = _verify_jsonl(jsonl, checkpoints)
        else:
            with _store(url) as store:
                checkpoints += _stored_checkpoints(store, public_key, problems)
                result = _verify_store(store, checkpoints)
    except (StoreError, InputError) as exc:
        _bad_input(str(exc))
    problems += result.problems
    if problems:
        click.echo(f"TAMPERING FOUND in {result.size} records read:")
        for p in problems:
            click.echo(f"  {p}")
        sys.exit(EXIT_TAMPERED)
    click.echo(f"ok: {result.size} records, chain intact; head {result.head}; root {result.root}")
    for cp in checkpoints:
        where = checkpoint_file if cp is given else "stored"
        click.echo(f"  consistent with checkpoint size {cp.size} at {cp.at.isoformat()} ({where})")
    if checkpoints and public_key is None:
        click.echo("  (signatures not checked: give --public-key)")


def _verify_store(store: Store, checkpoints: list):
    v = Verifier(checkpoints)
    for rec in iter_records(store):
        v.feed(rec)
    return v.finish(head=store.audit_head())


def _verify_jsonl(path: str, checkpoints: list):
    from blastwall.audit.chain import verify as verify_chain
    try:
        with open(path, encoding="utf-8") as f:
            return verify_chain(read_jsonl(f, source=path), checkpoints)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", source=path) from None


def _stored_checkpoints(store: Store, public_key, problems: list) -> list[Checkpoint]:
    """The store's own checkpoints; with a key, any that do not verify are reported as forged."""
    good = []
    for d in store.checkpoints():
        cp = Checkpoint.from_dict(d)
        if public_key is not None and not cp.verify(public_key):
            problems.append(Problem("bad_signature", cp.size, "a stored checkpoint's signature does not verify"))
        else:
            good.append(cp)
    return good


@audit.command(help="Write every audit record as JSON lines (stdout, or -o FILE).")
@click.option("--db", "url", required=True, help="Store URL.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output file (default: stdout).")
def export(url, output):
    try:
        with _store(url) as store:
            if output:
                with open(output, "w", encoding="utf-8") as out:
                    n = export_jsonl(iter_records(store), out)
            else:
                n = export_jsonl(iter_records(store), sys.stdout)
    except (StoreError, OSError) as exc:
        _bad_input(str(exc))
    click.echo(f"exported {n} records", err=True)


@audit.command(help="Verify the chain, then sign, store and print a checkpoint over it.")
@click.option("--db", "url", required=True, help="Store URL.")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False),
              help="Ed25519 private key (PEM); make one with `blastwall audit keygen FILE`.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Also write the checkpoint here.")
def checkpoint(url, key_file, output):
    try:
        key = load_private_key(key_file)
    except InputError as exc:
        _bad_input(str(exc))
    try:
        with _store(url) as store:
            cp = make_checkpoint(store, key, datetime.now(timezone.utc))
            store.save_checkpoint(cp.to_dict())
    except StoreError as exc:
        _bad_input(str(exc))
    except ChainBroken as exc:
        click.echo(f"TAMPERING FOUND: {exc}", err=True)
        sys.exit(EXIT_TAMPERED)
    if output:
        Path(output).write_text(cp.to_text(), encoding="ascii")
    click.echo(cp.to_text(), nl=False)


@audit.command(help="Make an Ed25519 signing key: FILE (private, mode 0600) and FILE.pub.")
@click.argument("key_file", type=click.Path(dir_okay=False))
def keygen(key_file):
    try:
        generate_key(key_file)
    except InputError as exc:
        _bad_input(str(exc))
    click.echo(f"wrote {key_file} (keep it secret) and {key_file}.pub (give it to verifiers)")
