"""`blastwall serve`, and the human-facing clients: approvals, kill-switch, principals."""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
from datetime import timedelta

import click
import httpx
from rich.table import Column, Table

from blastwall.cli.main import cli
from blastwall.cli.render import console, shown
from blastwall.errors import InputError

DEFAULT_URL = "http://127.0.0.1:8470"


@cli.command(help="Run the governance service (HTTP API, SQLite by default, PostgreSQL for replicas).")
@click.option("--inventory", required=True, type=click.Path(dir_okay=False))
@click.option("--policy", default=None, type=click.Path(dir_okay=False))
@click.option("--principals", "principals_file", required=True, type=click.Path(dir_okay=False))
@click.option("--db", default="sqlite:///blastwall.db", show_default=True, help="sqlite:///FILE or postgresql://...")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8470, show_default=True, type=int)
@click.option("--notify", "notify_file", default=None, type=click.Path(dir_okay=False),
              help="YAML with a notifications section: webhooks for approval requests and kill-switch changes.")
@click.option("--checkpoint-key", "checkpoint_key", default=None, type=click.Path(dir_okay=False),
              help="Ed25519 key that signs audit checkpoints (made, mode 0600, if missing; public key FILE.pub).")
@click.option("--checkpoint-every", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Sign a checkpoint after this many new audit records ...")
@click.option("--checkpoint-seconds", default=300.0, show_default=True, type=click.FloatRange(min=0.1),
              help="... or this many seconds, whichever comes first (only when there are new records).")
@click.option("--approval-ttl", default=3600.0, show_default=True, type=click.FloatRange(min=1, max=7 * 86400),
              help="Seconds an approval request stays open.")
@click.option("--grant-ttl", default=900.0, show_default=True, type=click.FloatRange(min=1, max=86400),
              help="Seconds an execution grant stays redeemable once issued.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Service processes sharing the port (each decides on its own core).")
@click.option("--listen-fd", type=int, default=None, hidden=True, help="A worker's inherited listening socket.")
@click.option("--writer-socket", default=None, hidden=True, help="A worker's shared writer (store/remote.py).")
def serve(inventory, policy, principals_file, db, host, port, notify_file, checkpoint_key, checkpoint_every,
          checkpoint_seconds, approval_ttl, grant_ttl, workers, listen_fd, writer_socket):
    if workers > 1:
        args = ["--inventory", inventory, "--principals", principals_file, "--db", db, "--host", host,
                "--port", str(port), "--approval-ttl", str(approval_ttl), "--grant-ttl", str(grant_ttl),
                *(["--policy", policy] if policy else []),
                *(["--notify", notify_file] if notify_file else [])]
        _serve_workers(workers, host, port, args, db, (checkpoint_key, checkpoint_every, checkpoint_seconds))
        return
    from blastwall.service.app import create_app
    from blastwall.service.expiry import RequestExpiry
    from blastwall.service.follow import ReloadFollower
    from blastwall.service.gateway import Gateway, Settings
    from blastwall.service.principals import load_principals
    from blastwall.store.base import open_store
    if listen_fd is not None:
        from blastwall.service.workers import die_with_parent
        die_with_parent()
    store = open_store(db)
    store.migrate()
    if writer_socket:
        store.share_writer(writer_socket)
    else:                                       # a worker's parent runs it for every worker
        RequestExpiry().attach(store)
    notifier = _notifier(notify_file)
    settings = Settings(timedelta(seconds=approval_ttl), timedelta(seconds=grant_ttl))
    gateway = Gateway(inventory, policy, store, load_principals(principals_file), settings=settings,
                      notifier=notifier, principals_file=principals_file)
    if notifier:
        gateway.metrics.watch(notifier)                      # notification counts on /metrics
    signal.signal(signal.SIGHUP, lambda *_: _reload(gateway))
    if listen_fd is None:
        console(stderr=True).print(f"blastwall serving on http://{host}:{port} (store {store.backend}, "
                                   f"policy {gateway.revisions()['policy_revision']}); SIGHUP reloads")
    checkpoints = _checkpoints(store, checkpoint_key, checkpoint_every, checkpoint_seconds)
    follower = ReloadFollower(gateway, report=lambda msg: click.echo(msg, err=True)).start()
    try:
        _run_http(create_app(gateway), host, port, listen_fd)
    finally:
        follower.stop()
        if checkpoints:
            checkpoints.stop()
    if notifier:
        notifier.close(drain=5.0)


def _settle_heap() -> None:
    from blastwall.service.gateway import settle_heap
    settle_heap()


def _run_http(app, host: str, port: int, listen_fd: int | None) -> None:
    import uvicorn
    # no proxy-header rewriting: nothing here reads the client address, and it is one more layer per request
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           proxy_headers=False))
    _settle_heap()
    server.run(sockets=[socket.socket(fileno=listen_fd)] if listen_fd is not None else None)


def _serve_workers(n: int, host: str, port: int, worker_args: list[str], db: str, checkpointing: tuple) -> None:
    """The parent of ``n`` worker processes (see blastwall.service.workers); exits with their status."""
    from blastwall.service.expiry import RequestExpiry
    from blastwall.service.workers import Workers
    from blastwall.store.base import open_store
    store = open_store(db)
    store.migrate()                                           # once, before the workers start
    RequestExpiry().attach(store)
    workers = Workers(n, host, port, worker_args, store)
    console(stderr=True).print(f"blastwall serving on http://{host}:{port} with {n} worker processes "
                               f"(store {store.backend}); SIGHUP reloads them all")
    checkpoints = _checkpoints(store, *checkpointing)
    _settle_heap()
    try:
        code = workers.run()
    finally:
        if checkpoints:
            checkpoints.stop()
        store.close()
    sys.exit(code)


def _checkpoints(store, key_file, every: int, seconds: float):
    """The background thread signing audit checkpoints, started; None without a key file."""
    if not key_file:
        return None
    from blastwall.service.checkpoints import CheckpointThread, signing_key
    key, public, created = signing_key(key_file)
    err = console(stderr=True)
    err.print(f"{'made a new' if created else 'using the'} checkpoint key {shown(str(key_file))}; "
              f"verifiers need its public key: {shown(str(public))}", soft_wrap=True)   # paths unbroken
    err.print(f"signing a checkpoint every {every:,} audit records or {seconds:g} s")
    return CheckpointThread(store, key, every, seconds, report=lambda msg: click.echo(msg, err=True)).start()


def _notifier(notify_file):
    if not notify_file:
        return None
    from blastwall.service.notify import Notifier, load_notify_config
    return Notifier(load_notify_config(notify_file))


def _reload(gateway) -> None:
    try:
        gateway.reload(by="signal")
    except Exception as exc:  # noqa: BLE001  the old inventory and policy keep serving
        click.echo(f"reload refused: {exc}", err=True)


class Api:
    def __init__(self, url: str, token: str | None):
        if not token:
            raise InputError("no token: pass --token or set BLASTWALL_TOKEN", field="--token")
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def call(self, method: str, path: str, **kw):
        try:
            res = self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the service: {exc}") from None
        if res.status_code >= 400:
            err = res.json().get("error", {}) if res.headers.get("content-type", "").startswith("application/json") else {}
            raise click.ClickException(f"{res.status_code}: {err.get('message', res.text)}")
        return res.json()


def api_options(fn):
    fn = click.option("--url", default=lambda: os.environ.get("BLASTWALL_URL", DEFAULT_URL), show_default=DEFAULT_URL)(fn)
    return click.option("--token", default=lambda: os.environ.get("BLASTWALL_TOKEN"), help="Or BLASTWALL_TOKEN.")(fn)


@cli.group(help="Review approval requests (humans).")
def approvals() -> None:
    pass


@approvals.command("list", help="Open approval requests, impact first.")
@api_options
@click.option("--state", default="pending", show_default=True)
def approvals_list(url, token, state):
    rows = Api(url, token).call("GET", "/v1/approvals", params={"state": state})
    table = Table(Column("request", no_wrap=True), "approvers", "scope", "expires", "state")   # ids are copied
    for r in rows:
        scope = r["scope"]
        table.add_row(r["id"], str(r["approvers"]), shown(f"{', '.join(scope['environments'])} / "
                                                          f"{', '.join(scope['regions'])}"), r["expires_at"], r["state"])
    console().print(table)


@approvals.command("show", help="One request: the computed impact, then the proposal and reviews.")
@api_options
@click.argument("request_id")
def approvals_show(url, token, request_id):
    req = Api(url, token).call("GET", f"/v1/approvals/{request_id}")
    prop, impact = req["proposal"], req["proposal"]["decision"]["impact"]
    out = console()
    out.print(f"[bold]{shown(request_id)}[/] {req['state']} — needs {req['approvers']} approver(s)")
    out.print(f"[bold]impact[/]: deletes {impact['deleted']:,}, degrades {impact['degraded']:,}, "
              f"{impact['customers']:,} customers, {impact['fleet_fraction']:.1%} of fleet, "
              f"environments {shown(', '.join(impact['environments']) or '-')}, "
              f"regions {shown(', '.join(impact['regions']) or '-')}")
    out.print(f"[bold]agent[/] {shown(prop['agent'])} (operator {shown(prop['operator'] or '-')})")
    artifact = prop["proposal"].get("artifact")
    if artifact:                                # what the approval binds to, exactly
        out.print(f"[bold]exact {shown(artifact['kind'])}[/]: " + shown(json.dumps(artifact["exact"])))
    out.print("[bold]stated intent (untrusted)[/]: " + shown(json.dumps(prop["intent"])))
    out.print(shown(prop["decision"]["explanation"]))
    for r in req["reviews"]:
        out.print(f"  review by {shown(r['reviewer'])}: {r['verdict']} "
                  f"({'accepted' if r['accepted'] else 'rejected: ' + shown(r['reason'])})")


def _review_command(verdict: str, help_text: str):
    @approvals.command(verdict, help=help_text)
    @api_options
    @click.argument("request_id")
    @click.option("--reason", default="")
    def command(url, token, request_id, reason):
        res = Api(url, token).call("POST", f"/v1/approvals/{request_id}/reviews",
                                   json={"verdict": verdict, "reason": reason})
        console().print_json(data=res)
    return command


approvals_approve = _review_command("approve", "Approve a request (your authority must cover its impact).")
approvals_deny = _review_command("deny", "Veto a request.")


@cli.group("kill-switch", help="Stop agents: global, agent:NAME or env:NAME.")
def kill_switch() -> None:
    pass


def _switch_command(name: str, engaged: bool):
    @kill_switch.command(name, help=f"{name.capitalize()} the kill switch for a scope.")
    @api_options
    @click.option("--scope", default="global", show_default=True)
    @click.option("--reason", required=True)
    def command(url, token, scope, reason):
        body = {"scope": scope, "engaged": engaged, "reason": reason}
        console().print_json(data=Api(url, token).call("POST", "/v1/kill-switch", json=body))
    return command


ks_engage, ks_release = _switch_command("engage", True), _switch_command("release", False)


@kill_switch.command("status")
@api_options
def ks_status(url, token):
    console().print_json(data=Api(url, token).call("GET", "/v1/kill-switch"))


@cli.group(help="Manage principals' tokens.")
def principals() -> None:
    pass


@principals.command("token", help="Print a new random token and the hash to put in the principals file.")
def principals_token():
    from blastwall.service.principals import new_token
    token, digest = new_token()
    click.echo(f"token:        {token}\ntoken_sha256: {digest}")
