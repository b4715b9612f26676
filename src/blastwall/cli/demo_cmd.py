"""`blastwall demo`: replay the incident scenarios against the sample fleet."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from blastwall.cli.main import cli
from blastwall.cli.render import console, decision_panel, impact_tree
from blastwall.scenarios import load_all


@cli.command(help="Replay real-incident scenarios through the engine on the sample fleet.")
@click.option("--scenarios", "root", type=click.Path(file_okay=False), default=None,
              help="A directory of scenarios (default: the built-in incident set).")
def demo(root: str | None) -> None:
    out = console()
    base = Path(root) if root else Path(str(resources.files("blastwall").joinpath("data/scenarios")))
    engines: dict = {}
    failed = 0
    for sc in load_all(base):
        decision = sc.run(engines)
        out.rule(f"[bold]{sc.name}[/]")
        out.print(f"[dim]{sc.story}[/]")
        out.print(decision_panel(decision))
        out.print(impact_tree(sc.engine(engines).blast_radius(sc.proposal()), "blast radius"))
        problems = sc.mismatches(decision)
        failed += bool(problems)
        for p in problems:
            out.print(f"[red]unexpected:[/] {p}")
    out.rule()
    out.print(f"{len(load_all(base))} scenarios replayed, {failed} unexpected.")
    if failed:
        raise SystemExit(1)
