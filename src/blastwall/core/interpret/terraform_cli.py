"""terraform argv -> Operations.

Read-only subcommands become one ``read`` without a target.  Anything that can
change infrastructure or state is opaque: what ``apply`` does is only known from
its plan, which is judged as a ``terraform_plan`` artifact instead.  So is a read
that prints sensitive values in plain text (``output -json``, ``show -json``,
``state pull``, ``console``): Terraform redacts them only in its human formats.
"""
from __future__ import annotations

from typing import Callable, Sequence

from blastwall.core.model import Operation, Verb, opaque

_PLAN_ADVICE = ("judge the plan instead: submit the JSON of `terraform show -json PLANFILE` "
                "as terraform_plan")


def interpret_terraform(argv: Sequence[str]) -> list[Operation]:
    text = " ".join(argv)
    args = list(argv[1:])
    i = 0
    while i < len(args) and args[i].startswith("-chdir="):   # global option
        i += 1
    if i == len(args):
        return [_read(text, "prints help")]
    if args[i] in _HELP_OR_VERSION:
        return [_read(text, "prints help or version")]
    if args[i].startswith("-"):
        return [_opaque(text, f"unknown global option {args[i]}")]
    handler = _SUBCOMMANDS.get(args[i], _unknown)
    return [handler(text, args[i + 1:])]


_HELP_OR_VERSION = frozenset({"-help", "--help", "-h", "-version", "--version", "-v"})


def _read(text: str, why: str = "read-only") -> Operation:
    return Operation(Verb.READ, note=f"{text}: {why}")


def _opaque(text: str, why: str, destructive: bool = False) -> Operation:
    return opaque(f"{text} [{why}]", destructive=destructive)


def _plain_read(text: str, args: list[str]) -> Operation:
    return _read(text)


def _unknown(text: str, args: list[str]) -> Operation:
    return _opaque(text, "terraform subcommand that may change infrastructure or state")


def _flag(args: list[str], name: str) -> bool:
    """A boolean terraform flag given as -name, --name or -name=true."""
    for arg in args:
        key, eq, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and key == name and (not eq or value.lower() in ("true", "1")):
            return True
    return False


def _init(text: str, args: list[str]) -> Operation:
    if _flag(args, "migrate-state") or _flag(args, "force-copy"):
        return _opaque(text, "terraform init -migrate-state moves state to another backend")
    return _read(text, "downloads providers and modules only")


_IN_CLEAR = "shows sensitive values in plain text"


def _output(text: str, args: list[str]) -> Operation:
    if _flag(args, "json") or _flag(args, "raw"):
        return _opaque(text, f"prints credentials (terraform output -json/-raw {_IN_CLEAR})")
    return _read(text, "sensitive outputs are shown as <sensitive>")


def _show(text: str, args: list[str]) -> Operation:
    if _flag(args, "json"):
        return _opaque(text, f"prints credentials (terraform show -json {_IN_CLEAR})")
    return _read(text, "sensitive values are redacted")


def _console(text: str, args: list[str]) -> Operation:
    return _opaque(text, "prints credentials (terraform console prints nonsensitive(var.x))")


def _fmt(text: str, args: list[str]) -> Operation:
    return _read(text, "formats local files only")


# Flags of apply that take their value as the next word (`-var x=1`).
_APPLY_VALUED = frozenset({"backup", "lock-timeout", "parallelism", "state", "state-out", "var",
                           "var-file", "target", "replace"})


def _plan_file(args: list[str]) -> str | None:
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            return arg
        key = arg.lstrip("-")
        i += 2 if key in _APPLY_VALUED else 1
    return None


def _apply(text: str, args: list[str]) -> Operation:
    destroys = _flag(args, "destroy")
    plan = _plan_file(args)
    if plan is not None:
        return _opaque(text, f"applies saved plan {plan}; {_PLAN_ADVICE}", destroys)
    what = "destroys everything in the configuration" if destroys else "changes infrastructure"
    return _opaque(text, f"terraform apply {what}; {_PLAN_ADVICE}", destroys)


def _destroy(text: str, args: list[str]) -> Operation:
    return _opaque(text, f"terraform destroy deletes infrastructure; {_PLAN_ADVICE}",
                   destructive=True)


def _test(text: str, args: list[str]) -> Operation:
    return _opaque(text, "terraform test can create and destroy real infrastructure")


_STATE_READS = frozenset({"list", "show"})


def _state(text: str, args: list[str]) -> Operation:
    if not args:
        return _read(text, "prints help")
    if args[0] == "pull":
        return _opaque(text, "prints credentials (the raw state holds secrets in plain text)")
    if args[0] in _STATE_READS:
        return _read(text)
    destructive = args[0] == "rm"
    return _opaque(text, f"terraform state {args[0]} changes state", destructive)


def _workspace(text: str, args: list[str]) -> Operation:
    if not args:
        return _read(text, "prints help")
    if args[0] in ("list", "show"):
        return _read(text)
    destructive = args[0] == "delete"
    return _opaque(text, f"terraform workspace {args[0]} changes workspaces", destructive)


_SUBCOMMANDS: dict[str, Callable[[str, list[str]], Operation]] = {
    **{name: _plain_read for name in ("plan", "validate", "providers", "version", "graph", "get")},
    "output": _output, "show": _show, "console": _console, "fmt": _fmt, "init": _init,
    "apply": _apply, "destroy": _destroy, "test": _test, "state": _state, "workspace": _workspace,
}
