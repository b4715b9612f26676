"""The blastwall command line: thin wrappers over the library."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from blastwall.cli.render import console, decision_panel, impact_tree
from blastwall.core.model import Effect, Proposal
from blastwall.core.proposal import parse_proposal
from blastwall.engine import Engine, local_files
from blastwall.errors import BlastwallError, InputError, ProposalError
from blastwall.loaders.jsonfile import read_json_file

EXIT = {Effect.ALLOW: 0, Effect.APPROVE: 10, Effect.DENY: 20}
EXIT_BAD_INPUT, EXIT_INTERNAL = 2, 3
MAX_PROPOSAL_BYTES = 16 * 2**20
ARGV_COMMANDS = ("check", "impact")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    own, agent_argv = _split_agent_argv(argv)
    try:
        cli.main(args=own, prog_name="blastwall", obj={"agent_argv": agent_argv}, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        sys.exit(EXIT_INTERNAL)
    except BlastwallError as exc:
        _fail(exc)
    except Exception as exc:  # noqa: BLE001  fail closed, say so
        click.echo(f"internal error ({type(exc).__name__}: {exc}); nothing is allowed.", err=True)
        sys.exit(EXIT_INTERNAL)


def _split_agent_argv(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``--argv`` takes every argument after it (contract section 5)."""
    if "--argv" in argv and argv and argv[0] in ARGV_COMMANDS:
        at = argv.index("--argv")
        return argv[:at], argv[at + 1:]
    return argv, None


def _fail(exc: BlastwallError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_BAD_INPUT if isinstance(exc, InputError) else EXIT_INTERNAL)


@click.group(help="blastwall: what does this change really touch, and may it run?")
@click.version_option(package_name="blastwall")
def cli() -> None:
    pass


def input_options(fn):
    opts = [
        click.option("--inventory", "inventory", required=True, type=click.Path(dir_okay=False),
                     help="Inventory file (.yaml, .json, .jsonl or .bwsnap)."),
        click.option("--policy", type=click.Path(dir_okay=False), default=None,
                     help="Policy file; omitted: the built-in recommended policy."),
        click.option("--proposal", "proposal_file", type=click.Path(dir_okay=False), help="Proposal JSON file."),
        click.option("--command", "command", help="A shell command string."),
        click.option("--terraform-plan", "plan_file", type=click.Path(dir_okay=False),
                     help="JSON of `terraform show -json PLANFILE`."),
        click.option("--agent", default="cli", show_default=True, help="Agent name for artifact inputs."),
        click.option("--operator", default="", help="Operator for artifact inputs."),
        click.option("--intent", default="", help="The agent's stated reason."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


@cli.command(help="Decide a proposal: exit 0 allow, 10 approve, 20 deny, 2 bad input. "
                  "--argv must come last: everything after it is the agent's argv.")
@input_options
@click.option("--at", "at", default=None, help="ISO-8601 time to decide at (default: now).")
@click.option("--kill-switch", is_flag=True, help="Decide as if the kill switch were engaged.")
@click.pass_obj
def check(obj, inventory, policy, proposal_file, command, plan_file, agent, operator, intent, as_json,
          at, kill_switch):
    now = _parse_at(at)
    proposal = _proposal(obj, proposal_file, command, plan_file, agent, operator, intent)
    engine = Engine.load(inventory, policy)
    decision = engine.decide(proposal, now=now, kill_switch=kill_switch)
    if as_json:
        click.echo(json.dumps(decision.to_dict(), sort_keys=False, ensure_ascii=False))
    else:
        console().print(decision_panel(decision))
    sys.exit(EXIT[decision.effect])


@cli.command(help="Show the blast radius of a proposal as a tree (or --json).")
@input_options
@click.option("--target", "targets", multiple=True, help="A resource id or alias (as a delete).")
@click.option("--verb", default="delete", show_default=True, help="Verb for --target.")
@click.pass_obj
def impact(obj, inventory, policy, proposal_file, command, plan_file, agent, operator, intent, as_json,
           targets, verb):
    if targets:
        doc = {"agent": agent, "operations": [{"verb": verb, "target": t} for t in targets]}
        proposal = parse_proposal(doc)
    else:
        proposal = _proposal(obj, proposal_file, command, plan_file, agent, operator, intent)
    engine = Engine.load(inventory, policy)
    radius = engine.blast_radius(proposal)
    if as_json:
        click.echo(json.dumps(radius.impact().to_dict()))
        return
    out = console()
    out.print(impact_tree(radius))
    summary = radius.impact()
    out.print(f"deleted {summary.deleted:,} · degraded {summary.degraded:,} · customers {summary.customers:,}"
              f" · {summary.fleet_fraction:.1%} of fleet")


def _parse_at(at: str | None) -> datetime | None:
    if at is None:
        return None
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"not an ISO-8601 time: {at!r}", field="--at") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _proposal(obj, proposal_file, command, plan_file, agent, operator, intent) -> Proposal:
    agent_argv = obj.get("agent_argv")
    given = [name for name, v in (("--proposal", proposal_file), ("--argv", agent_argv),
                                  ("--command", command), ("--terraform-plan", plan_file)) if v is not None]
    if len(given) != 1:
        raise InputError("give exactly one of --proposal, --argv, --command, --terraform-plan"
                         + (f" (got {', '.join(given)})" if given else ""))
    files = local_files()
    base = {"agent": agent, "operator": operator, "intent": intent}
    if proposal_file:
        return parse_proposal(_read_json(proposal_file), local_files(Path(proposal_file).parent))
    if agent_argv is not None:
        if not agent_argv:
            raise InputError("--argv needs the agent's command after it", field="--argv")
        return parse_proposal({**base, "argv": agent_argv}, files)
    if command is not None:
        return parse_proposal({**base, "command": command}, files)
    return parse_proposal({**base, "terraform_plan": _read_json(plan_file)}, files)


def _read_json(path: str):
    return read_json_file(path, MAX_PROPOSAL_BYTES, ProposalError)


from blastwall.cli import inventory_cmd, demo_cmd, service_cmd, audit_cmd, integrations_cmd  # noqa: E402,F401  (registers subcommands)
