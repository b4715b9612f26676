"""Rich rendering of decisions and blast radii. Untrusted text is always shown through ``shown``."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from rich.console import Console, Group
from rich.markup import escape as _markup_escape
from rich.panel import Panel
from rich.table import Table
from rich.tree import Tree

from blastwall.core.impact import BlastRadius
from blastwall.core.display import printable
from blastwall.core.model import Decision, Effect

STYLE = {Effect.ALLOW: "bold green", Effect.APPROVE: "bold yellow", Effect.DENY: "bold red"}
TREE_LIMIT = 8


def shown(text) -> str:
    """Untrusted text for Rich: markup escaped, control characters made visible."""
    return _markup_escape(printable(str(text)))


def decision_panel(decision: Decision, title: str = "") -> Panel:
    effect = decision.effect
    body = [impact_table(decision), reasons_table(decision)]
    if decision.approval:
        a = decision.approval
        scope = (f"covering {shown(', '.join(a.environments) or 'no environment')} / "
                 f"{shown(', '.join(a.regions) or 'no region')}") if a.environments or a.regions \
            else "(the impact names no environment or region: any approver)"
        body.append(f"[yellow]Approval:[/] {a.approvers} human(s) {scope}")
    body.append(shown(decision.explanation))
    head = f"[{STYLE[effect]}]{effect.upper()}[/]" + (f"  {shown(title)}" if title else "")
    return Panel(Group(*body), title=head, title_align="left", border_style=STYLE[effect].split()[-1])


def impact_table(decision: Decision) -> Table:
    i = decision.impact
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    rows = [("deleted", f"{i.deleted:,}" + (f" ({i.stateful_deleted} stateful)" if i.stateful_deleted else "")),
            ("degraded", f"{i.degraded:,}"), ("resources", f"{i.resources:,} ({i.fleet_fraction:.1%} of fleet)"),
            ("environments", ", ".join(i.environments) or "-"), ("regions", ", ".join(i.regions) or "-"),
            ("customers", f"{i.customers:,}"), ("cost/month", f"{i.cost_delta_per_month:+,.2f}")]
    if i.unknown_targets:
        rows.append(("unknown targets", ", ".join(i.unknown_targets)))
    for k, v in rows:
        table.add_row(k, shown(v))
    return table


def reasons_table(decision: Decision) -> Table:
    table = Table("rule", "effect", "why", box=None, pad_edge=False)
    for r in decision.reasons:
        table.add_row(r.rule, f"[{STYLE[r.effect]}]{r.effect}[/]", shown(r.message))
    return table


def impact_tree(radius: BlastRadius, title: str = "blast radius") -> Tree:
    """region -> environment -> deleted / degraded, a few names each."""
    fleet = radius.fleet
    root = Tree(f"[bold]{shown(title)}[/]")
    region, env = fleet.column("region"), fleet.column("env")
    groups: dict[tuple[str, str], dict[str, np.ndarray]] = defaultdict(dict)
    for label, idx in (("deleted", radius.deleted), ("degraded", radius.degraded)):
        for (rc, ec) in set(zip(region.codes[idx].tolist(), env.codes[idx].tolist())):
            sel = idx[(region.codes[idx] == rc) & (env.codes[idx] == ec)]
            groups[(region.vocab[rc], env.vocab[ec])][label] = sel
    by_region: dict[str, Tree] = {}
    for (reg, en) in sorted(groups):
        node = by_region.setdefault(reg, root.add(f"[cyan]{shown(reg)}[/]"))
        env_node = node.add(f"[magenta]{shown(en)}[/]")
        for label, style in (("deleted", "red"), ("degraded", "yellow")):
            idx = groups[(reg, en)].get(label)
            if idx is not None and idx.size:
                _add_names(env_node.add(f"[{style}]{label} ({idx.size:,})[/]"), fleet, idx)
    for name in radius.resolved.unknown:
        root.add(f"[red]unknown target[/] {shown(name)}")
    return root


def _add_names(node: Tree, fleet, idx: np.ndarray) -> None:
    kinds = fleet.column("kind")
    for i in idx[:TREE_LIMIT]:
        node.add(f"{shown(fleet.id_of(i))} [dim]{shown(kinds.vocab[kinds.codes[i]])}[/]")
    if idx.size > TREE_LIMIT:
        node.add(f"[dim]... and {idx.size - TREE_LIMIT:,} more[/]")


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)
