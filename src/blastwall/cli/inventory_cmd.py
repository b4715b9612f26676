"""`blastwall inventory ...` and `blastwall policy ...`."""
from __future__ import annotations

import json
from pathlib import Path

import click

from blastwall.cli.main import cli
from blastwall.cli.render import console
from blastwall.errors import InventoryError
from blastwall.loaders.inventory import load_inventory
from blastwall.loaders.policy import load_policy


@cli.group(help="Validate, import and snapshot inventories.")
def inventory() -> None:
    pass


@inventory.command("validate", help="Load an inventory and report its size, or the first error.")
@click.argument("path", type=click.Path(dir_okay=False))
def validate(path: str) -> None:
    fleet = load_inventory(path)
    edges = int(fleet.dependents.indices.size)
    console().print(f"{path}: {fleet.size:,} resources, {edges:,} dependency edges, "
                    f"revision {fleet.revision}")


@inventory.command("snapshot", help="Write a memory-mappable snapshot (.bwsnap) for fast reloads.")
@click.argument("source", type=click.Path(dir_okay=False))
@click.argument("dest", type=click.Path(dir_okay=False))
def snapshot(source: str, dest: str) -> None:
    from blastwall.loaders.snapshot import save_snapshot
    fleet = load_inventory(source)
    save_snapshot(fleet, Path(dest))
    console().print(f"wrote {dest}: {fleet.size:,} resources")


@inventory.group("import", help="Turn real sources into contract inventories.")
def import_() -> None:
    pass


@import_.command("terraform-state", help="From the JSON of `terraform show -json` on a state.")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--env", default=None, help="Environment for every resource (else from tags).")
@click.option("--region", default=None, help="Region for every resource (else from tags).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write here (default stdout).")
def import_terraform_state(path, env, region, output):
    from blastwall.loaders.terraform_state import import_terraform_state as run
    _emit(run(_read(path), env=env, region=region), output)


@import_.command("kubectl", help="From `kubectl get -o json` lists (one or more files).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--context", required=True, help="The kubectl context these objects came from.")
@click.option("--env", default=None)
@click.option("--region", default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None)
def import_kubectl(paths, context, env, region, output):
    from blastwall.loaders.kubectl import import_kubectl as run
    _emit(run([_read(p) for p in paths], context=context, env=env, region=region), output)


def _read(path: str):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read: {exc}", source=path) from None
    except json.JSONDecodeError as exc:
        raise InventoryError(f"invalid JSON: {exc.msg}", source=path, line=exc.lineno) from None


def _emit(doc: dict, output: str | None) -> None:
    from blastwall.loaders.inventory import fleet_from_records
    fleet_from_records(doc["resources"], "<imported>")      # refuse to write what we could not load
    text = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if output:
        Path(output).write_text(text)
        console(stderr=True).print(f"wrote {output}: {len(doc['resources']):,} resources")
    else:
        click.echo(text, nl=False)


@cli.group(help="Validate and show policies.")
def policy() -> None:
    pass


@policy.command("validate", help="Compile a policy file; report the first error with its field.")
@click.argument("path", type=click.Path(dir_okay=False))
def policy_validate(path: str) -> None:
    compiled = load_policy(path)
    console().print(f"{path}: {len(compiled.rules)} rules, {len(compiled.freezes)} freezes, "
                    f"{len(compiled.windows)} windows, revision {compiled.revision}")


@policy.command("show", help="List the effective rules of a policy (default: recommended).")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def policy_show(path: str | None) -> None:
    from rich.table import Table
    compiled = load_policy(path)
    table = Table("rule", "effect", "when", "approvers")
    for r in compiled.rules:
        table.add_row(r.name + (" (guard)" if r.guard else ""), str(r.effect), r.when,
                      str(r.approvers) if str(r.effect) == "approve" else "")
    console().print(table)
    console().print("params: " + ", ".join(f"{k}={v}" for k, v in compiled.params.items()))
