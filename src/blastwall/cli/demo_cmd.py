"""`blastwall demo`: the governance service on the sample fleet, driven over HTTP by an agent and
humans; `blastwall demo --scenarios [DIR]` replays the incident scenarios in process instead."""
from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path

import click

from blastwall.cli.main import cli
from blastwall.cli.render import console, decision_panel, impact_tree, shown
from blastwall.core.model import Decision
from blastwall.core.proposal import parse_proposal
from blastwall.scenarios import load_all

BUILTIN = "builtin"
AGENT = "kiro-ops-7"
ROUTINE = {"intent": "Pick up the new config.",
           "operations": [{"verb": "restart", "target": "deploy/dev-us-east-1/web"}]}
KIRO = {"intent": "Environment is misconfigured; fastest fix is to delete and recreate it.",
        "operations": [{"verb": "delete", "target": "env/prod-cn"}, {"verb": "create", "target": "env/prod-cn"}]}
NS_DELETE = {"intent": "Clean up the payments namespace, it looks unused.",
             "argv": ["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"]}
EU_RESTART = {"intent": "Roll the search pods onto the new node pool.",
              "operations": [{"verb": "restart", "target": "deploy/prod-eu-west-1/search"}]}


@cli.command(help="Start the governance service on the sample fleet (SQLite, recommended policy), let an agent "
                  "and humans use it over HTTP, show the decisions, and keep serving until Ctrl-C.")
@click.option("--scenarios", is_flag=False, flag_value=BUILTIN, default=None, metavar="[DIR]",
              help="Instead: replay the incident scenarios in process (the built-in set, or those in DIR).")
@click.option("--dir", "workdir", default=".blastwall-demo", show_default=True, type=click.Path(file_okay=False),
              help="Demo directory (database, tokens, key): deleted and made again by every run.")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1; a free one if it is taken.")
@click.option("--exit", "exit_after", is_flag=True, help="Stop once everything is printed (tests, CI).")
def demo(scenarios: str | None, workdir: str, port: int, exit_after: bool) -> None:
    if scenarios is not None:
        replay_scenarios(None if scenarios == BUILTIN else Path(scenarios))
    else:
        LiveDemo(Path(workdir), port).run(exit_after)


# the live demo -------------------------------------------------------------------------------
class LiveDemo:
    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir, self.port = workdir, port
        self.out = console()
        self.story_failed = False

    def run(self, exit_after: bool) -> None:
        from blastwall.service.demo import make_site
        self.site = make_site(self.workdir)
        self._start()
        try:
            self._identities()
            pending = self._proposals()
            self._agent_story()
            self._checkpoint()
            self._where_to_look()
            self._next_steps(pending)
            if not exit_after:
                self.out.print("\n[bold]Serving until Ctrl-C.[/]")
                self.server.wait()
        except KeyboardInterrupt:
            self.out.print("\nstopping")
        finally:
            self._stop()
        if self.story_failed:
            raise SystemExit(1)

    # the service ------------------------------------------------------------------------
    def _start(self) -> None:
        from blastwall.service.app import create_app
        from blastwall.service.checkpoints import CheckpointThread, signing_key
        from blastwall.service.demo import BackgroundServer, listening_socket
        from blastwall.service.gateway import Gateway
        from blastwall.service.principals import load_principals
        from blastwall.store.base import open_store
        site = self.site
        self.store = open_store(site.db_url)
        self.store.migrate()
        self.gateway = Gateway(site.inventory, None, self.store, load_principals(site.principals),
                               principals_file=site.principals)
        key, self.public_key, _ = signing_key(site.key)
        self.checkpoints = CheckpointThread(self.store, key, every_records=10, every_seconds=10,
                                            report=lambda msg: self.out.print(f"[red]{shown(msg)}[/]")).start()
        self.server = BackgroundServer(create_app(self.gateway), listening_socket(self.port)).start()
        self.url = self.server.url

    def _stop(self) -> None:
        self.server.stop()
        self.checkpoints.stop()
        self.store.close()

    # what is printed ---------------------------------------------------------------------
    def _identities(self) -> None:
        from blastwall.service.demo import PEOPLE
        out, site = self.out, self.site
        revs = self.gateway.revisions()
        out.rule("[bold]blastwall demo[/]: the governance service")
        out.print(f"serving [bold]{self.url}[/] with SQLite {shown(str(site.db))}, the sample fleet "
                  f"({shown(revs['inventory_revision'])}) and the recommended policy ({shown(revs['policy_revision'])})")
        out.print(f"\n[bold]Principals[/] (tokens shown once; also in {shown(str(site.tokens_file))}, mode 0600; "
                  f"{shown(str(site.principals))} holds only their SHA-256):")
        for name, person in PEOPLE.items():
            what = f"agent, operator {person['operator']}" if person["kind"] == "agent" else \
                f"{', '.join(person['roles'])} over {'/'.join(person['authority']['environments'])} in " \
                f"{', '.join(person['authority']['regions'])}"
            out.print(f"  {name:<11} {shown(site.tokens[name])}  [dim]{shown(what)}[/]", soft_wrap=True)

    def _proposals(self) -> str:
        """The agent's proposals and the humans' reviews over HTTP; returns the request left pending."""
        from blastwall.integrations.client import Client
        tokens = self.site.tokens
        with Client(self.url, tokens[AGENT]) as agent:
            self._propose(agent, "1. a routine restart in dev", ROUTINE)
            self._propose(agent, "2. the Kiro change: delete and recreate env/prod-cn", KIRO)
            ns = self._propose(agent, "3. kubectl delete namespace payments in prod cn-north-1", NS_DELETE)
            grant = self._reviews(ns.approval_request_id)
            agent.redeem(grant, NS_DELETE)
            self.out.print(f"{AGENT} redeems grant {grant} just before running the change: single use, bound to "
                           "this exact command", soft_wrap=True)
            eu = self._propose(agent, "4. waiting for you: a restart of search in prod eu-west-1", EU_RESTART,
                               tree=False)
        return eu.approval_request_id

    def _propose(self, agent, title: str, doc: dict, tree: bool = True):
        out = self.out
        out.rule(f"[bold]{shown(title)}[/]")
        out.print(f"{AGENT} proposes, stating (untrusted): [italic]{shown(doc['intent'])}[/]", soft_wrap=True)
        result = agent.propose(doc)
        out.print(decision_panel(Decision.from_dict(result.decision), title=result.proposal_id))
        if tree:
            radius = self.gateway.engine.blast_radius(parse_proposal({**doc, "agent": AGENT}))
            out.print(impact_tree(radius, "blast radius"))
        if result.approval_request_id:
            out.print(f"approval request [bold]{result.approval_request_id}[/] opened", soft_wrap=True)
        return result

    def _reviews(self, request_id: str) -> str:
        """erin (outside her authority) is rejected, bob approves; returns the grant."""
        from blastwall.integrations.client import Client, RequestRefused
        tokens = self.site.tokens
        with Client(self.url, tokens["erin"]) as erin:
            try:
                erin.review(request_id, "approve", "looks fine to me")
            except RequestRefused as refused:
                self.out.print(f"erin approves: [red]rejected[/] ({refused.status}): {shown(refused.message)}",
                               soft_wrap=True)
        with Client(self.url, tokens["bob"]) as bob:
            res = bob.review(request_id, "approve", "namespace confirmed unused")
        self.out.print(f"bob approves: [green]{res['state']}[/], single-use grant {res['grant_id']} "
                       f"(expires {res['grant_expires_at']})", soft_wrap=True)
        return res["grant_id"]

    def _agent_story(self) -> None:
        """The scripted MCP agent story from blastwall.integrations.story, when that module is there."""
        # ---- the one call site of the MCP-driven agent story (optional module) ----
        try:
            from blastwall.integrations.story import run_story
        except ImportError:
            return
        self.out.rule("[bold]5. a scripted agent through MCP[/] (blastwall mcp serve)")
        try:
            lines = run_story(self.url, dict(self.site.tokens), (self.site.dir / "story").resolve())
        except Exception as exc:  # noqa: BLE001  the demo goes on; --exit reports the failure
            self.story_failed = True
            self.out.print(f"[red]the MCP agent story failed:[/] {shown(f'{type(exc).__name__}: {exc}')}")
            return
        for line in lines:
            self.out.print(shown(line), soft_wrap=True)

    def _checkpoint(self) -> None:
        made = self.checkpoints.tick()
        latest = made or self.store.latest_checkpoint()
        if latest is not None:
            size = latest.size if made else latest["size"]
            self.out.print(f"\nsigned audit checkpoint over {size} records (Ed25519; public key "
                           f"{shown(str(self.public_key))})", soft_wrap=True)

    def _where_to_look(self) -> None:
        out, site, url = self.out, self.site, self.url
        out.rule("[bold]Where to look[/]")
        rows = [("API", url), ("API docs", f"{url}/docs"), ("metrics", f"{url}/metrics"),
                ("audit log", f"{site.db} (hash-chained; GET {url}/v1/audit with a token)"),
                ("checkpoints", f"GET {url}/v1/audit/checkpoints; public key {self.public_key}"),
                ("tokens", f"{site.tokens_file}")]
        for name, where in rows:
            out.print(f"  {name:<12} {shown(where)}", soft_wrap=True)

    def _next_steps(self, pending: str) -> None:
        out, site = self.out, self.site
        out.rule("[bold]What to type next[/] (another terminal)")
        db, pub = shlex.quote(str(site.db)), shlex.quote(str(self.public_key))
        lines = [
            f"export BLASTWALL_URL={self.url} BLASTWALL_TOKEN={site.tokens['erin']}   # erin, prod eu-west-1",
            "blastwall approvals list",
            f"blastwall approvals show {pending}",
            f"blastwall approvals approve {pending} --reason 'new node pool, ok'",
            f"blastwall audit verify --db {db} --public-key {pub}",
            f"BLASTWALL_TOKEN={site.tokens['bob']} blastwall kill-switch engage --reason drill   # bob",
        ]
        for line in lines:
            out.print("  " + shown(line), soft_wrap=True)


# the scenarios replay -----------------------------------------------------------------------------
def replay_scenarios(root: Path | None) -> None:
    """Replay real-incident scenarios through the engine on the sample fleet, in process."""
    out = console()
    base = root or Path(str(resources.files("blastwall").joinpath("data/scenarios")))
    engines: dict = {}
    failed = 0
    scenarios = load_all(base)
    for sc in scenarios:
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
    out.print(f"{len(scenarios)} scenarios replayed, {failed} unexpected.")
    if failed:
        raise SystemExit(1)
