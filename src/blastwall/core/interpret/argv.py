"""argv -> Operations: unwrap wrappers (sudo, env, sh -c ...), then dispatch on the command word.

Only commands whose effect is known with certainty are interpreted: kubectl and
terraform (own modules), read-only cloud CLI calls and harmless local reads.
Everything else is ``opaque``: ``exec`` on an unknown target, never allowed.
A read that would show the agent a credential is opaque too (``credentials``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import partial
from typing import Callable, NamedTuple, Sequence

from blastwall.core.interpret import credentials
from blastwall.core.interpret.terraform_cli import interpret_terraform
from blastwall.core.model import Operation, Verb, opaque
from blastwall.errors import ProposalError

# Reads a file named in an artifact (kubectl -f); None when it cannot be read.
FileReader = Callable[[str], "str | None"]

MAX_SHELL_DEPTH = 5


def interpret_argv(argv: Sequence[str], files: FileReader | None = None) -> list[Operation]:
    if not argv:
        raise ProposalError("argv is empty", field="argv")
    return interpret_words(list(argv), files, depth=0)


def interpret_words(argv: list, files: FileReader | None, depth: int,
                    strict: bool = False) -> list[Operation]:
    """interpret_argv for callers that track shell nesting (``sh -c`` inside ``sh -c``)."""
    if not argv or not all(isinstance(word, str) for word in argv):
        return [opaque(f"malformed argv {argv!r}")]
    found = locate_command(argv)
    bad = _control_char_word(argv, skip=found.script)
    if bad is not None:
        return [_opaque(argv, f"argument {bad!r} contains a control character")]
    if found.problem:
        return [_opaque(argv, found.problem)]
    exposed = credentials.exposed_by_any(argv[:found.start])     # env -C ~/.aws, sudo -D ~/.ssh
    if exposed:
        return [_opaque(argv, exposed)]
    if found.script is not None:
        return _interpret_script(argv, found, files, depth, strict)
    if found.changes_dir:
        files = absolute_paths_only(files)
    return _dispatch(argv[found.start:], files)


# --- command words -------------------------------------------------------------------

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*|\[|:|\.")
_SYSTEM_BIN_DIRS = frozenset({"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin",
                              "/usr/local/sbin", "/opt/homebrew/bin", "/snap/bin"})


def command_name(word: str) -> str | None:
    """The name a command word runs, or None when it is not a plain name.

    Paths count only inside system bin directories: ``./kubectl`` or
    ``/tmp/kubectl`` may be anything.
    """
    directory, slash, name = word.rpartition("/")
    if slash and directory not in _SYSTEM_BIN_DIRS:
        return None
    return name if _PLAIN_NAME.fullmatch(name) else None


def _control_char_word(argv: list[str], skip: int | None) -> str | None:
    for index, word in enumerate(argv):
        if index != skip and any(is_control_char(ch) for ch in word):
            return word
    return None


def is_control_char(ch: str) -> bool:
    """NUL, other C0/C1 controls, format characters (bidi overrides), lone surrogates."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def absolute_paths_only(files: FileReader | None) -> FileReader | None:
    """After a change of directory relative paths name other files than the gateway sees."""
    if files is None:
        return None
    return lambda path: files(path) if path.startswith("/") else None


# --- destructive text ----------------------------------------------------------------

_DESTRUCTIVE_WORD = re.compile(
    r"(?<![a-z0-9])(delete|destroy|drop|truncate|purge|terminate|deregister|shred|wipefs|mkfs)",
    re.IGNORECASE)
_RM_RECURSIVE = re.compile(r"(?<![\w.-])rm\s+(?:-\S*\s+)*?(?:-[a-zA-Z]*[rR]|--recursive)")
_DD = re.compile(r"(?<![\w.-])dd\s")


def looks_destructive(text: str) -> bool:
    """The visible text clearly destroys something (rm -rf, delete, DROP TABLE ...)."""
    return bool(_DESTRUCTIVE_WORD.search(text) or _RM_RECURSIVE.search(text) or _DD.search(text))


def _opaque(argv: Sequence[str], reason: str, destructive: bool = False) -> Operation:
    text = " ".join(argv)
    return opaque(f"{text} [{reason}]", destructive=destructive or looks_destructive(text))


def _read(argv: Sequence[str], why: str = "read-only") -> Operation:
    return Operation(Verb.READ, note=f"{' '.join(argv)}: {why}")


# --- variables that change what later commands do --------------------------------------

_DANGEROUS_VARIABLES = frozenset({
    "PATH", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS", "PS4", "PROMPT_COMMAND",
    "CDPATH", "GLOBIGNORE", "HOME", "LESSOPEN", "LESSCLOSE", "KUBECONFIG",
    "KUBECTL_EXTERNAL_DIFF", "NODE_OPTIONS", "RUBYOPT", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR", "TF_DATA_DIR",
})
_DANGEROUS_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_", "GIT_", "TF_CLI_ARGS", "PYTHON", "PERL5",
                       "KUBECTL_")
_DANGEROUS_SUFFIXES = ("PAGER", "EDITOR")


def is_dangerous_variable(name: str) -> bool:
    """Setting this variable can change which program runs or what it does."""
    name = name.rstrip("+")
    return (name in _DANGEROUS_VARIABLES or name.startswith(_DANGEROUS_PREFIXES)
            or name.endswith(_DANGEROUS_SUFFIXES))


# --- option scanning -----------------------------------------------------------------

@dataclass(frozen=True)
class _Options:
    """Option grammar of a wrapper: which options exist and which take a value."""
    flags: frozenset[str] = frozenset()
    valued: frozenset[str] = frozenset()
    refused: tuple[tuple[frozenset[str], str], ...] = ()   # (options, why the call is opaque)
    chdir: frozenset[str] = frozenset()                    # options that change directory


def _opts(flags: str = "", valued: str = "", refused: tuple = (), chdir: str = "") -> _Options:
    return _Options(frozenset(flags.split()), frozenset(valued.split()),
                    tuple((frozenset(names.split()), why) for names, why in refused),
                    frozenset(chdir.split()))


class _Scan(NamedTuple):
    index: int           # first word that is not an option
    problem: str = ""
    changes_dir: bool = False


def _refusal(spec: _Options, option: str) -> str:
    return next((why for names, why in spec.refused if option in names), "")


def _scan_options(argv: list[str], i: int, spec: _Options) -> _Scan:
    """Skip options from argv[i]; stop at the first operand. Unknown options are problems."""
    changes_dir = False
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        word = argv[i]
        if word == "--":
            return _Scan(i + 1, changes_dir=changes_dir)
        options, step = _split_option(word, spec)
        for option in options:
            problem = _refusal(spec, option) or ("" if option in spec.flags | spec.valued
                                                 else f"unknown option {option}")
            if problem:
                return _Scan(i, problem)
            changes_dir |= option in spec.chdir
        i += step
    return _Scan(i, changes_dir=changes_dir)


def _split_option(word: str, spec: _Options) -> tuple[list[str], int]:
    """The options in one word (``-nEu`` is three) and how many words they use."""
    if word.startswith("--"):
        name, eq, _ = word.partition("=")
        return [name], 1 if eq or name not in spec.valued else 2
    options = []
    for pos, letter in enumerate(word[1:], start=1):
        options.append("-" + letter)
        if "-" + letter in spec.valued:
            return options, 1 if pos < len(word) - 1 else 2
    return options, 1


# --- wrappers ------------------------------------------------------------------------

@dataclass(frozen=True)
class Located:
    """Where the command that does the work starts, after wrappers."""
    start: int = 0
    script: int | None = None     # index of the script word of ``sh -c SCRIPT``
    shell: str = ""
    changes_dir: bool = False
    problem: str = ""


class _Step(NamedTuple):
    next: int | None       # index of the wrapped command; None: the wrapper itself is the command
    problem: str = ""
    changes_dir: bool = False


_SUDO = _opts(
    flags="-E -H -n -S -b -k -P -A -i -s -B -N --preserve-env --set-home --non-interactive "
          "--stdin --background --reset-timestamp --preserve-groups --askpass --login --shell "
          "--bell",
    valued="-u -g -p -C -D -T -U -r -t --user --group --prompt --close-from --chdir "
           "--command-timeout --other-user --role --type",
    refused=(("-e --edit", "sudoedit edits files"),
             ("-l --list -v --validate -K --remove-timestamp -V --version -h --help --host",
              "sudo without a plain command")),
    chdir="-D --chdir")
_ENV = _opts(flags="-i -0 -v --ignore-environment --null --debug",
             valued="-u --unset -C --chdir",
             refused=(("-S --split-string", "env -S splits a string into a command"),
                      ("-P", "env -P searches another PATH")),
             chdir="-C --chdir")
_TIMEOUT = _opts(flags="--foreground --preserve-status -v --verbose",
                 valued="-k -s --kill-after --signal")
_NICE = _opts(valued="-n --adjustment")
_STDBUF = _opts(valued="-i -o -e --input --output --error")
_IONICE = _opts(flags="-t --ignore", valued="-c -n --class --classdata",
                refused=(("-p -P -u --pid --pgid --uid", "ionice on other processes"),))
_TIME = _opts(flags="-p -v -q --portability --verbose --quiet", valued="-f --format",
              refused=(("-o --output -a --append", "time -o writes a file"),))
_EXEC = _opts(flags="-c -l", valued="-a")
_COMMAND = _opts(flags="-p")
_NOHUP = _opts()

_DURATION = re.compile(r"\d+(\.\d+)?[smhd]?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _after(argv: list[str], i: int, spec: _Options, skip: int = 0) -> _Step:
    """A wrapper that must be followed by a command (``skip``: words already consumed)."""
    scan = _scan_options(argv, i + 1 + skip, spec)
    if scan.problem:
        return _Step(None, scan.problem)
    if scan.index >= len(argv):
        return _Step(None, f"{argv[i]} without a command")
    return _Step(scan.index, changes_dir=scan.changes_dir)


def _nice(argv: list[str], i: int) -> _Step:
    numeric = i + 1 < len(argv) and bool(re.fullmatch(r"-\d+", argv[i + 1]))   # nice -10 CMD
    return _after(argv, i, _NICE, skip=int(numeric))


def _timeout(argv: list[str], i: int) -> _Step:
    step = _after(argv, i, _TIMEOUT)
    if step.next is None:
        return step
    if not _DURATION.fullmatch(argv[step.next]):
        return _Step(None, f"timeout duration {argv[step.next]!r} is not a plain duration")
    if step.next + 1 >= len(argv):
        return _Step(None, "timeout without a command")
    return _Step(step.next + 1)


def _command(argv: list[str], i: int) -> _Step:
    if i + 1 < len(argv) and argv[i + 1] in ("-v", "-V"):
        return _Step(None)                     # command -v NAME: a lookup
    return _after(argv, i, _COMMAND)


def _env(argv: list[str], i: int) -> _Step:
    scan = _scan_options(argv, i + 1, _ENV)
    if scan.problem:
        return _Step(None, scan.problem)
    j = scan.index
    if j < len(argv) and argv[j] == "-":        # `env -` is `env -i`
        j += 1
    while j < len(argv) and "=" in argv[j]:
        name = argv[j].partition("=")[0]
        if is_dangerous_variable(name):
            return _Step(None, f"env sets {name}, which changes what commands run")
        j += 1
    if j >= len(argv):
        return _Step(None)                     # env without a command prints the environment
    return _Step(j, changes_dir=scan.changes_dir)


_WRAPPERS: dict[str, Callable[[list[str], int], _Step]] = {
    "sudo": partial(_after, spec=_SUDO), "nohup": partial(_after, spec=_NOHUP),
    "time": partial(_after, spec=_TIME), "exec": partial(_after, spec=_EXEC),
    "stdbuf": partial(_after, spec=_STDBUF), "ionice": partial(_after, spec=_IONICE),
    "env": _env, "timeout": _timeout, "nice": _nice, "command": _command,
}
SCRIPT_SHELLS = frozenset({"sh", "bash", "zsh", "dash"})


def locate_command(argv: list[str]) -> Located:
    """Follow wrappers to the command that does the work (or to ``sh -c SCRIPT``)."""
    i, changes_dir = 0, False
    while i < len(argv):
        name = command_name(argv[i])
        if name is None:
            return Located(i, problem=f"command word {argv[i]!r} is not a plain name")
        if name in SCRIPT_SHELLS:
            return _locate_script(argv, i, name, changes_dir)
        wrapper = _WRAPPERS.get(name)
        step = wrapper(argv, i) if wrapper else _Step(None)
        if step.problem or step.next is None:
            return Located(i, changes_dir=changes_dir, problem=step.problem)
        i, changes_dir = step.next, changes_dir or step.changes_dir
    return Located(problem="no command")


_SHELL_LETTERS = frozenset("euxvlnfhBCETPabmco")
_SHELL_LONG = frozenset({"--norc", "--noprofile", "--login", "--posix", "--noediting"})


def _locate_script(argv: list[str], i: int, shell: str, changes_dir: bool) -> Located:
    """``bash [opts] -c SCRIPT [args]``; a shell reading stdin or a file is opaque."""
    j, reads_argument = i + 1, False
    while j < len(argv) and argv[j][:1] in ("-", "+") and argv[j] not in ("-", "+"):
        word = argv[j]
        if word == "--":
            j += 1
            break
        letters = "" if word.startswith("--") else word[1:]
        if (word.startswith("--") and word not in _SHELL_LONG) or set(letters) - _SHELL_LETTERS:
            return Located(i, problem=f"{shell} option {word} reads commands from elsewhere")
        reads_argument |= "c" in letters
        j += 2 if "o" in letters else 1          # -o NAME / +o NAME
    if not reads_argument or j >= len(argv):
        return Located(i, problem=f"{shell} runs a script the gateway cannot see")
    return Located(i, script=j, shell=shell, changes_dir=changes_dir)


def _interpret_script(argv: list[str], found: Located, files: FileReader | None,
                      depth: int, strict: bool) -> list[Operation]:
    from blastwall.core.interpret.shell import interpret_script   # shell imports this module
    if found.changes_dir:
        files = absolute_paths_only(files)
    # zsh expands globs and parameters differently (glob qualifiers run code): be strict.
    return interpret_script(argv[found.script], files, depth + 1,
                            strict=strict or found.shell == "zsh")


# --- dispatch --------------------------------------------------------------------------

def _dispatch(argv: list[str], files: FileReader | None) -> list[Operation]:
    name = command_name(argv[0]) or ""
    if name == "kubectl":
        from blastwall.core.interpret import kubectl as kubectl_cli   # kubectl imports this module
        return kubectl_cli.interpret_kubectl(list(argv), files)
    if name == "terraform":
        return interpret_terraform(argv)
    if name in _CLOUD_CLIS:
        return [_CLOUD_CLIS[name](argv)]
    if name in _LOCAL_READS:
        problem = _LOCAL_READS[name](argv[1:]) or _credential_exposure(name, argv[1:])
        return [_opaque(argv, problem) if problem else _read(argv)]
    return [_unknown(name, argv)]


def _unknown(name: str, argv: list[str]) -> Operation:
    if _is_destructive_local(name, argv[1:]):
        return _opaque(argv, "destroys local data", destructive=True)
    family = re.sub(r"[0-9.]+$", "", name)        # python3.11 -> python
    for names, why in _OPAQUE_FAMILIES:
        if name in names or family in names:
            return _opaque(argv, why)
    exposed = _credential_exposure(name, argv[1:])          # cp ~/.aws/credentials, base64 .env
    return _opaque(argv, exposed or f"{name} is not a command the gateway can interpret")


_OPAQUE_FAMILIES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"eval", "source", ".", "xargs", "parallel", "watch", "builtin", "trap",
                "alias"}),
     "runs commands the gateway cannot see"),
    (frozenset({"python", "perl", "ruby", "node", "nodejs", "deno", "bun", "php", "lua",
                "Rscript", "pwsh", "powershell", "osascript", "tclsh", "awk", "gawk", "sed",
                "ksh", "mksh", "fish", "csh", "tcsh", "busybox"}),
     "an interpreter runs code the gateway cannot see"),
    (frozenset({"ssh", "scp", "sftp", "rsync", "mosh", "telnet", "nc", "ncat", "socat"}),
     "runs on or copies to another machine"),
    (frozenset({"psql", "mysql", "mariadb", "mongosh", "mongo", "redis-cli", "sqlite3",
                "sqlcmd", "cqlsh", "clickhouse-client"}),
     "a database client runs statements the gateway cannot judge"),
)


def _is_destructive_local(name: str, args: list[str]) -> bool:
    if name in ("dd", "shred", "truncate", "wipefs") or name.startswith("mkfs"):
        return True
    return name == "rm" and any(_is_recursive_flag(arg) for arg in _options_before_dashdash(args))


def _is_recursive_flag(arg: str) -> bool:
    return arg == "--recursive" or (not arg.startswith("--") and bool(set(arg[1:]) & {"r", "R"}))


def _options_before_dashdash(args: list[str]) -> list[str]:
    options = []
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("-") and arg != "-":
            options.append(arg)
    return options


# --- harmless local reads --------------------------------------------------------------
# Each checker returns why the call may write or run something, or "" when it only reads.

def _never(args: list[str]) -> str:
    return ""


def _short_flags(args: list[str]) -> set[str]:
    """Letters of short option clusters (``-rno`` -> r, n, o)."""
    return {ch for arg in _options_before_dashdash(args) if not arg.startswith("--")
            for ch in arg[1:]}


def _long_names(args: list[str]) -> set[str]:
    return {arg.partition("=")[0] for arg in _options_before_dashdash(args) if arg.startswith("--")}


def _test(args: list[str]) -> str:
    # bash evaluates the subscript of `test -v 'a[$(cmd)]'` arithmetically: it runs cmd.
    return "test -v/-R evaluates a variable subscript" if {"-v", "-R"} & set(args) else ""


def _unset(args: list[str]) -> str:
    # `unset 'a[$(cmd)]'` evaluates the subscript too: only plain names.
    plain = all(_NAME.fullmatch(arg) or arg in ("-v", "-f", "-n") for arg in args)
    return "" if plain else "unset of something other than a plain name"


def _printf(args: list[str]) -> str:
    return "printf -v assigns a shell variable" if "-v" in args[:1] else ""


def _sort(args: list[str]) -> str:
    if "o" in _short_flags(args) or _long_names(args) & {"--output", "--compress-program"}:
        return "sort -o writes a file"
    return ""


def _uniq(args: list[str]) -> str:
    operands = [arg for arg in args if not arg.startswith("-") or arg == "-"]
    return "uniq INPUT OUTPUT writes a file" if len(operands) > 1 else ""


_FIND_ACTIONS = frozenset({"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint",
                           "-fprint0", "-fprintf", "-fls"})


def _find(args: list[str]) -> str:
    hit = next((arg for arg in args if arg in _FIND_ACTIONS), "")
    return f"find {hit} deletes, writes or runs commands" if hit else ""


def _yq(args: list[str]) -> str:
    if _short_flags(args) & {"i", "s"} or _long_names(args) & {"--inplace", "--in-place",
                                                                "--split-exp"}:
        return "yq -i/-s writes files"
    return ""


# jq's `env` / `$ENV` and yq's `env(NAME)` / `strenv(NAME)` print the environment, tokens included.
_FILTER_READS_ENVIRONMENT = re.compile(r"\$ENV\b|(?<![.\w$])(?:str)?env\b")    # not .env, a field


def filter_reads_environment(program: str, args: list[str]) -> bool:
    return program in ("jq", "yq", "gojq", "jaq") and any(_FILTER_READS_ENVIRONMENT.search(a) for a in args)


_DATE_VALUED = frozenset({"-d", "--date", "-f", "--file", "-r", "--reference"})
_DATE_FLAGS = frozenset({"-u", "--utc", "--universal", "-R", "--rfc-email", "-I", "--debug"})


def _date(args: list[str]) -> str:
    i = 0
    while i < len(args):
        arg, name = args[i], args[i].partition("=")[0]
        if arg.startswith("+") or name in _DATE_FLAGS or name.startswith(("--iso-8601", "--rfc-3339", "-I")):
            i += 1
        elif name in _DATE_VALUED:
            i += 1 if "=" in arg else 2
        elif arg[:2] in ("-d", "-f", "-r") and len(arg) > 2:
            i += 1
        else:
            return f"date {arg} may set the clock"
    return ""


_HOSTNAME_READS = frozenset({"-f", "-s", "-i", "-I", "-d", "-a", "-A", "-y", "--fqdn", "--long",
                             "--short", "--ip-address", "--all-ip-addresses", "--domain",
                             "--alias", "--all-fqdns", "--yp", "--nis"})


def _hostname(args: list[str]) -> str:
    return "" if all(arg in _HOSTNAME_READS for arg in args) else "hostname may set the host name"


def _env_print(args: list[str]) -> str:
    # reached only without a command (see _env): it prints every variable
    return credentials.PRINTS_ENVIRONMENT


def _printenv(args: list[str]) -> str:
    names = [arg for arg in args if not arg.startswith("-")]
    if not names:
        return credentials.PRINTS_ENVIRONMENT
    secret = next((name for name in names if credentials.is_secret_variable(name)), None)
    return f"prints credentials ({secret})" if secret else ""


def _command_lookup(args: list[str]) -> str:
    return "" if args[:1] in (["-v"], ["-V"]) else "command without a command"


def _file(args: list[str]) -> str:
    compiles = "C" in _short_flags(args) or "--compile" in _long_names(args)
    return "file -C compiles a magic file" if compiles else ""


def _pager(args: list[str]) -> str:
    if any(arg.startswith("+") for arg in args) or _short_flags(args) & {"o", "O", "k"} \
            or _long_names(args) & {"--log-file", "--LOG-FILE", "--lesskey-file", "--lesskey-src"}:
        return "pager option writes a file or runs commands"
    return ""


_SET_OPTION_NAMES = frozenset({"pipefail", "errexit", "nounset", "xtrace", "verbose", "noclobber"})


def _set(args: list[str]) -> str:
    if not args:
        return credentials.PRINTS_ENVIRONMENT          # `set` alone prints every variable
    for prev, arg in zip([""] + args, args):
        if re.fullmatch(r"[-+][euxv]*o", prev) and arg in _SET_OPTION_NAMES:
            continue                            # set -euo pipefail
        if not re.fullmatch(r"[-+][euxvo]+", arg):
            return f"set {arg} changes the shell"
    return ""


def _export(args: list[str]) -> str:
    if not args:
        return credentials.PRINTS_ENVIRONMENT          # `export` alone prints every variable
    for arg in args:
        name = arg.partition("=")[0].rstrip("+")
        if not _NAME.fullmatch(name):
            return f"export {arg} is not a plain variable"
        if is_dangerous_variable(name):
            return f"export {name} changes what later commands run"
    return ""


_GIT_GLOBAL_FLAGS = frozenset({"--no-pager", "-P", "--no-optional-locks", "--no-replace-objects"})
_GIT_BRANCH_LIST = frozenset({"-a", "-r", "-l", "-v", "-vv", "--all", "--remotes", "--list",
                              "--verbose", "--show-current", "--color", "--no-color",
                              "--column", "--no-column", "--merged", "--no-merged",
                              "--contains", "--no-contains", "--sort", "--format",
                              "--points-at", "--ignore-case", "--abbrev", "--no-abbrev"})


def _git(args: list[str]) -> str:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] == "-C":
            i += 2
        elif args[i] in _GIT_GLOBAL_FLAGS:
            i += 1
        else:
            return f"git option {args[i]} may change what git runs"
    if i >= len(args):
        return "git without a subcommand"
    sub, rest = args[i], args[i + 1:]
    if sub in ("status", "log", "diff", "show"):
        return "git --output writes a file" if "--output" in _long_names(rest) else ""
    if sub == "branch":
        return _git_branch(rest)
    return f"git {sub} may change the repository"


def _git_branch(args: list[str]) -> str:
    options = [arg.partition("=")[0] for arg in args if arg.startswith("-")]
    if any(option not in _GIT_BRANCH_LIST for option in options):
        return "git branch option may change branches"
    listing = {"-l", "--list"} & set(options)
    operands = [arg for arg in args if not arg.startswith("-")]
    return "git branch NAME creates a branch" if operands and not listing else ""


_LOCAL_READS: dict[str, Callable[[list[str]], str]] = {
    **{name: _never for name in (
        "echo", "cat", "ls", "pwd", "head", "tail", "grep", "egrep", "fgrep", "wc", "cut",
        "jq", "whoami", "id", "uname", "which", "true", "false", "diff",
        "stat", "du", "df", "sleep", "tr", "column", "basename", "dirname", "realpath",
        "tac", "seq", "cd")},
    "printenv": _printenv,
    "test": _test, "[": _test, "unset": _unset,
    "printf": _printf, "sort": _sort, "uniq": _uniq, "find": _find, "yq": _yq,
    "date": _date, "hostname": _hostname, "env": _env_print, "command": _command_lookup,
    "file": _file, "less": _pager, "more": _pager, "set": _set, "export": _export, "git": _git,
}

# Reads that no option or operand can turn into a write: a glob or $VAR in their
# arguments cannot change what they do.
_EXPANSION_TOLERANT = frozenset(name for name, check in _LOCAL_READS.items() if check is _never)


def tolerates_expanded_arguments(word: str) -> bool:
    return command_name(word) in _EXPANSION_TOLERANT


# --- credentials -----------------------------------------------------------------------

# Programs that show names or metadata of the files they are given, never what is in them.
_NAMES_ONLY = frozenset({"echo", "printf", "basename", "dirname", "realpath", "which", "test",
                         "[", "ls", "stat", "df", "pwd", "true", "false", "sleep", "find", "du"})


def _credential_exposure(name: str, args: list[str]) -> str:
    """Why ``name args`` would show the agent a credential, or "".

    Any argument counts: ``base64 ~/.ssh/id_rsa`` and ``cp ~/.aws/credentials x`` as much
    as ``cat``.  Only programs that never open what they name may name credential files.
    """
    exposed = credentials.exposed_by_any(args, paths=name not in _NAMES_ONLY)
    if exposed:
        return exposed
    if filter_reads_environment(name, args):
        return credentials.PRINTS_ENVIRONMENT
    if _searches_recursively(name, args):
        home = next((arg for arg in args if not arg.startswith("-")
                     and credentials.holds_credentials(arg)), None)
        if home:
            return f"reads credentials (searches all of {home})"
    return ""


def _searches_recursively(name: str, args: list[str]) -> bool:
    if name == "diff":
        return "r" in _short_flags(args) or "--recursive" in _long_names(args)
    if name not in ("grep", "egrep", "fgrep"):
        return False
    directories = [value for option, value in zip(args, args[1:]) if option in ("-d", "--directories")]
    return ("recurse" in directories or "--directories=recurse" in args
            or bool(_short_flags(args) & {"r", "R"})
            or bool(_long_names(args) & {"--recursive", "--dereference-recursive"}))


# --- cloud CLIs ------------------------------------------------------------------------

_READ_ACTIONS = ("describe", "list", "get", "show")
_DESTRUCTIVE_ACTIONS = ("delete", "terminate", "remove", "destroy", "purge", "drop", "deregister")
# Reads by name that change local credentials and so the meaning of later commands.
_NOT_READS = frozenset({"get-credentials"})


def _action_kind(action: str) -> str:
    """read / destructive / other for a cloud CLI action word."""
    if action in _NOT_READS:
        return "other"
    if action.startswith(_READ_ACTIONS):
        return "read"
    if action.startswith(_DESTRUCTIVE_ACTIONS):
        return "destructive"
    return "other"


def _leading_path(args: list[str], valued: frozenset[str], flags: frozenset[str]) -> list[str] | None:
    """Command path: operands after known global options, up to the next option.

    None when an unknown option comes before the path.
    """
    i, path = 0, []
    while i < len(args) and args[i].startswith("-") and not path:
        name, eq, _ = args[i].partition("=")
        if name in valued:
            i += 1 if eq else 2
        elif name in flags:
            i += 1
        else:
            return None
    while i < len(args) and not args[i].startswith("-"):
        path.append(args[i])
        i += 1
    return path


def _cloud_result(argv: list[str], kind: str, path: list[str], exposed: str = "") -> Operation:
    """``exposed``: why the call prints credentials (a token, a secret's value), or ""."""
    destructive = kind == "destructive" or any(_action_kind(word) == "destructive" for word in path)
    exposed = exposed or credentials.exposed_by_any(argv[1:])     # --cli-input-json file://~/.aws/..
    if exposed:
        return _opaque(argv, exposed, destructive)
    if kind == "read":
        return _read(argv)
    return _opaque(argv, "cloud CLI call that changes or may change infrastructure", destructive)


def _prints_credentials(argv: list[str], path: list[str], secret_actions: re.Pattern,
                        secret_flags: frozenset[str] = frozenset()) -> str:
    command = " ".join(path)
    flag = next((arg for arg in argv if arg.partition("=")[0] in secret_flags), None)
    if secret_actions.search(command) or flag:
        return f"prints credentials ({argv[0]} {command}{' ' + flag if flag else ''})"
    return ""


_AWS_VALUED = frozenset({"--region", "--profile", "--output", "--endpoint-url", "--query",
                         "--color", "--cli-read-timeout", "--cli-connect-timeout", "--ca-bundle",
                         "--cli-binary-format"})
_AWS_FLAGS = frozenset({"--debug", "--no-paginate", "--no-verify-ssl", "--no-sign-request",
                        "--no-cli-pager"})
_AWS_S3 = {"ls": "read", "rm": "destructive", "rb": "destructive"}
# Actions that answer with a credential: tokens, passwords, secret values, key material.
_AWS_SECRET_ACTIONS = re.compile(
    r"^\S+ \S*(?:token|password|credentials|secret-value|get-login|assume-role|access-details"
    r"|decrypt|data-key|(?:create|download-default)-key-pair|create-access-key)"
    r"|^configure get \S*(?:secret|token|key|password|credential)"
    r"|^lambda get-function(?:-configuration)?$|^ecs describe-task-definition$"   # their environment variables
    r"|^batch describe-job-definitions$", re.IGNORECASE)
_AWS_SECRET_FLAGS = frozenset({"--with-decryption"})       # ssm get-parameter(s)


def _aws(argv: list[str]) -> Operation:
    path = _leading_path(argv[1:], _AWS_VALUED, _AWS_FLAGS)
    if not path or len(path) < 2:
        return _opaque(argv, "aws call without service and action")
    service, action = path[0], path[1]
    kind = _AWS_S3.get(action, "other") if service == "s3" else _action_kind(action)
    exposed = _prints_credentials(argv, path[:3], _AWS_SECRET_ACTIONS, _AWS_SECRET_FLAGS)
    return _cloud_result(argv, kind, path[:2], exposed)


_AZ_VALUED = frozenset({"--subscription", "--output", "-o", "--query"})
_AZ_FLAGS = frozenset({"--only-show-errors", "--debug", "--verbose"})
_AZ_SECRET_COMMANDS = re.compile(
    r"token|password|credential|connection-string|publishing|list-keys|generate-sas"
    r"|keys (?:list|show)|admin-key|query-key|secret (?:show|download|backup)|appsettings list",
    re.IGNORECASE)
_AZ_SECRET_FLAGS = frozenset({"--expose-token", "--show-values"})   # az acr login, containerapp secret list


def _az(argv: list[str]) -> Operation:
    path = _leading_path(argv[1:], _AZ_VALUED, _AZ_FLAGS)
    if not path:
        return _opaque(argv, "az call without a command")
    exposed = _prints_credentials(argv, path, _AZ_SECRET_COMMANDS, _AZ_SECRET_FLAGS)
    return _cloud_result(argv, _action_kind(path[-1]), path, exposed)


_GCLOUD_VALUED = frozenset({"--project", "--account", "--configuration", "--verbosity",
                            "--format", "--impersonate-service-account", "--billing-project"})
_GCLOUD_FLAGS = frozenset({"--quiet", "-q", "--log-http", "--no-user-output-enabled"})
# Leaf commands that run something and take a NAME which might look like a verb
# (`gcloud compute ssh list-vm`): a read word after them is only that NAME.
_GCLOUD_RUNNERS = frozenset({"ssh", "scp", "connect-to-serial-port", "start-iap-tunnel", "run",
                             "execute", "exec", "invoke", "call", "publish", "submit", "deploy",
                             "create", "update", "set", "add", "import", "export", "apply"})
_GCLOUD_NAMED_READS = frozenset({"describe", "show", "get-iam-policy", "get-value"})
_GCLOUD_SECRET_COMMANDS = re.compile(r"token|config-helper|secrets versions access|decrypt",
                                     re.IGNORECASE)


def _gcloud(argv: list[str]) -> Operation:
    """gcloud GROUP... COMMAND [NAME]: the leaf is the last path word or the one before NAME."""
    path = _leading_path(argv[1:], _GCLOUD_VALUED, _GCLOUD_FLAGS)
    if not path:
        return _opaque(argv, "gcloud call without a command")
    leaf = len(path) - 2 if len(path) >= 2 and path[-2] in _GCLOUD_NAMED_READS else len(path) - 1
    exposed = _prints_credentials(argv, path[:leaf + 1], _GCLOUD_SECRET_COMMANDS)
    if any(_gcloud_runs_something(index, word) for index, word in enumerate(path[:leaf])):
        return _cloud_result(argv, "other", path, exposed)
    return _cloud_result(argv, _action_kind(path[leaf]), path, exposed)


def _gcloud_runs_something(index: int, word: str) -> bool:
    if word == "run" and index == 0:        # `gcloud run services list`: run is a group
        return False
    return word in _GCLOUD_RUNNERS or _action_kind(word) != "other"


_CLOUD_CLIS: dict[str, Callable[[list[str]], Operation]] = {"aws": _aws, "az": _az, "gcloud": _gcloud}
