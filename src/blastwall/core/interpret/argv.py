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
    "AWS_SHARED_CREDENTIALS_FILE", "AWS_DATA_PATH", "AZURE_CONFIG_DIR", "AZURE_EXTENSION_DIR",
    "TF_DATA_DIR",
    "XDG_CONFIG_HOME",          # git reads $XDG_CONFIG_HOME/git/config: diff.external, core.fsmonitor
    "KUBERC",                   # kubectl's defaults file, as --kuberc: `-o yaml` on every get
})
# CLOUDSDK_*: CLOUDSDK_PYTHON(_ARGS) pick what runs gcloud, any other sets a gcloud property
# (api_endpoint_overrides/* sends the access token elsewhere).
_DANGEROUS_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_", "GIT_", "TF_CLI_ARGS", "PYTHON", "PERL5",
                       "KUBECTL_", "CLOUDSDK_")
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
    """read / destructive / other for an aws action word (the second word of the path)."""
    if action in _NOT_READS:
        return "other"
    if action.startswith(_READ_ACTIONS):
        return "read"
    if action.startswith(_DESTRUCTIVE_ACTIONS):
        return "destructive"
    return "other"


def _split_command(args: list[str], valued: frozenset[str],
                   flags: frozenset[str]) -> tuple[list[str], list[str]] | None:
    """Command path (operands after known global options, up to the next option) and the
    words after it.  None when an unknown option comes before the path."""
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
    return path, args[i:]


def _leading_path(args: list[str], valued: frozenset[str], flags: frozenset[str]) -> list[str] | None:
    split = _split_command(args, valued, flags)
    return None if split is None else split[0]


def _cloud_result(argv: list[str], kind: str, path: list[str], reason: str = "") -> Operation:
    """``reason``: why the call is opaque whatever its kind (it prints credentials, a token or
    a secret's value; it writes a local file), or ""."""
    destructive = kind == "destructive" or any(_action_kind(word) == "destructive" for word in path)
    reason = reason or credentials.exposed_by_any(argv[1:])     # --cli-input-json file://~/.aws/..
    if reason:
        return _opaque(argv, reason, destructive)
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


# --- aws ---

_AWS_VALUED = frozenset({"--region", "--profile", "--output", "--endpoint-url", "--query",
                         "--color", "--cli-read-timeout", "--cli-connect-timeout", "--ca-bundle",
                         "--cli-binary-format"})
_AWS_FLAGS = frozenset({"--debug", "--no-paginate", "--no-verify-ssl", "--no-sign-request",
                        "--no-cli-pager"})
_AWS_S3 = {"ls": "read", "rm": "destructive", "rb": "destructive"}
# Actions that answer with a credential: tokens, passwords, secret values, key material,
# and what commonly holds them: environment variables, user data, client secrets, API keys.
_AWS_SECRET_ACTIONS = re.compile(
    r"^\S+ \S*(?:token|password|credential|secret-value|get-login|assume-role|access-details"
    r"|instance-access|compute-access|decrypt|data-key|(?:create|download-default)-key-pair"
    r"|create-access-key)"
    r"|^configure get \S*(?:secret|token|key|password|credential)"
    r"|^lambda get-function(?:-configuration)?$|^ecs describe-task-definition$"    # environment
    r"|^batch describe-job-definitions$|^elasticbeanstalk describe-configuration-settings$"
    r"|^apprunner describe-service$|^amplify (?:get-app|list-apps|get-branch|list-branches)$"
    r"|^ec2 (?:get-launch-template-data|describe-launch-template-versions"            # user data
    r"|describe-spot-instance-requests|describe-spot-fleet-requests)$"
    r"|^autoscaling describe-launch-configurations$"
    r"|^\S+ list-api-keys$|^bedrock-agentcore get-resource-api-key$|^ivs get-stream-key$"  # keys
    r"|^cognito-idp (?:describe-user-pool-client|describe-identity-provider"     # client secrets
    r"|list-user-pool-client-secrets)$"
    r"|^s3control get-data-access$|^codepipeline get-(?:third-party-)?job-details$",  # temporary keys
    re.IGNORECASE)
_AWS_SECRET_FLAGS = frozenset({"--with-decryption"})       # ssm get-parameter(s), any spelling below
_AWS_INPUT_DOCUMENTS = ("--cli-input-json", "--cli-input-yaml")   # set any parameter from a document
# API calls whose answer is a stream that the CLI writes to a required OUTFILE operand
# (botocore: has_streaming_output).  Named like reads, they write a local file.
_AWS_STREAMING_READS = frozenset(f"{service} {action}" for line in """
    apigateway get-export get-sdk
    appconfig get-configuration get-hosted-configuration-version
    appconfigdata get-latest-configuration
    appsync get-introspection-schema
    cloudfront get-connection-function get-function
    codeartifact get-package-version-asset
    codeguruprofiler get-profile
    datazone get-lineage-event
    ebs get-snapshot-block
    geo-maps get-glyphs get-sprites get-static-map get-style-descriptor get-tile
    glacier get-job-output
    iot-data get-thing-shadow
    iotwireless get-position-estimate get-resource-position
    kinesis-video-archived-media get-clip get-media-for-fragment-list
    kinesis-video-media get-media
    lakeformation get-work-unit-results
    location get-map-glyphs get-map-sprites get-map-style-descriptor get-map-tile
    logs get-log-object
    medialive describe-input-device-thumbnail
    mediastore-data get-object
    medical-imaging get-image-frame get-image-set-metadata
    omics get-read-set get-reference
    s3api get-object get-object-torrent
    sagemaker-geospatial get-tile
    schemas get-code-binding-source
    tnb get-sol-function-package-content get-sol-function-package-descriptor
    tnb get-sol-network-package-content get-sol-network-package-descriptor
    workmailmessageflow get-raw-message-content
    """.strip().split("\n") for service, *actions in [line.split()] for action in actions)
# Custom commands that take operands of their own: `aws s3 ls s3://b`, `aws configure get region`.
_AWS_OPERANDS_OK = frozenset({"s3", "configure"})
_AWS_BOOLEANS = frozenset({"--dry-run", "--with-decryption", "--include-values", "--include-value",
                           "--hide-password", "--recursive"})
_AWS_FILE_OPTION = re.compile(r"outfile|out-file|output-file|output-dir|output-path")
# ec2 describe-instance-attribute --attribute: every value but userData.
_EC2_ATTRIBUTES = frozenset({
    "instanceType", "kernel", "ramdisk", "disableApiTermination", "instanceInitiatedShutdownBehavior",
    "rootDeviceName", "blockDeviceMapping", "productCodes", "sourceDestCheck", "groupSet",
    "ebsOptimized", "sriovNetSupport", "enaSupport", "enclaveOptions", "disableApiStop"})


def _aws_option_name(word: str) -> str:
    """``--WithDecryption``, ``--with_decryption=x`` -> ``--with-decryption`` (the use_aws hook
    passes API parameter names; the CLI itself only knows the kebab-case spelling)."""
    name = word.partition("=")[0][2:]
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).replace("_", "-").lower()
    return "--" + name


def _aws_sets(word: str, option: str) -> bool:
    """``word`` gives ``option``: the aws CLI takes any unambiguous prefix (``--with-decr``)."""
    if not word.startswith("--") or len(word.partition("=")[0]) < 3:
        return False
    return option.startswith(_aws_option_name(word))


def _aws_values(args: list[str], option: str) -> list[str] | None:
    """Values given to ``option`` (any spelling); None when one of them cannot be seen."""
    values = []
    for i, word in enumerate(args):
        if _aws_sets(word, option):
            if "=" in word:
                values.append(word.partition("=")[2])
            elif i + 1 < len(args):
                values.append(args[i + 1])
            else:
                return None
    return values


def _aws_input_document(args: list[str]) -> str:
    return next((word for word in args for option in _AWS_INPUT_DOCUMENTS
                 if word.startswith("--cli-i") and _aws_sets(word, option)), "")


def _aws_asks_for(option: str) -> Callable[[list[str]], str]:
    def check(args: list[str]) -> str:
        return next((word for word in args if _aws_sets(word, option)), "") or _aws_input_document(args)
    return check


def _glue_shows_password(args: list[str]) -> str:
    """glue get-connection(s) prints the password unless --hide-password (and nothing undoes it)."""
    hidden = any(_aws_sets(word, "--hide-password") and word.partition("=")[0] == word
                 and (i + 1 == len(args) or args[i + 1].startswith("--") or args[i + 1].lower() == "true")
                 for i, word in enumerate(args))
    undone = next((word for word in args if _aws_sets(word, "--no-hide-password")), "")
    return undone or _aws_input_document(args) or ("" if hidden else "without --hide-password")


def _user_data(args: list[str]) -> str:
    values = _aws_values(args, "--attribute")
    if not values or any(value not in _EC2_ATTRIBUTES for value in values):
        return "--attribute userData"
    return _aws_input_document(args)


# Reads that print a secret only when asked to: why this call asks, or "".
_AWS_REVEALING: dict[str, Callable[[list[str]], str]] = {
    **{f"ssm {action}": _aws_asks_for("--with-decryption")
       for action in ("get-parameter", "get-parameters", "get-parameters-by-path", "get-parameter-history")},
    "apigateway get-api-keys": _aws_asks_for("--include-values"),
    "apigateway get-api-key": _aws_asks_for("--include-value"),
    "glue get-connection": _glue_shows_password, "glue get-connections": _glue_shows_password,
    "ec2 describe-instance-attribute": _user_data,
    "datazone get-connection": _aws_asks_for("--with-secret"),
    "logs get-log-events": _aws_asks_for("--unmask"), "logs get-log-record": _aws_asks_for("--unmask"),
}


def _aws_prints_credentials(argv: list[str], path: list[str], rest: list[str]) -> str:
    service, action = path[0].lower(), path[1].lower()
    command = " ".join(path[:3]) if service == "configure" else f"{service} {action}"
    exposed = _prints_credentials(argv, [command], _AWS_SECRET_ACTIONS, _AWS_SECRET_FLAGS)
    if exposed or command not in _AWS_REVEALING:
        return exposed
    why = _AWS_REVEALING[command](rest)
    return f"prints credentials (aws {command} {why})" if why else ""


_AWS_BOOLEAN_PREFIXED = _AWS_FLAGS | {"--dry-run"}       # flags a shortened spelling may stand for


def _aws_boolean(name: str) -> bool:
    return (name in _AWS_BOOLEANS or name.startswith("--no-")
            or any(flag.startswith(name) for flag in _AWS_BOOLEAN_PREFIXED if len(name) > 2))


def _aws_operands(path: list[str], rest: list[str]) -> list[str]:
    """Words that are neither options nor their values: for an API call, the OUTFILE.

    A word right after an option is its value, and further words after a plural option
    (``--instance-ids a b``) are more values; after a boolean flag a word is an operand.
    """
    operands, expecting = list(path[2:]), ""
    for k, word in enumerate(rest):
        if word == "--":
            return operands + rest[k + 1:]
        if word.startswith("--"):
            name, eq, _ = word.partition("=")
            boolean = _aws_boolean(_aws_option_name(name))
            expecting = "" if eq else "flag" if boolean else "many" if name.endswith("s") else "one"
        elif expecting == "many":
            continue
        elif expecting == "one" or expecting == "flag" and word.lower() in ("true", "false"):
            expecting = ""                                              # use_aws: --dry-run true
        else:
            operands.append(word)
            expecting = ""
    return operands


def _aws_writes_file(path: list[str], rest: list[str]) -> str:
    """Why this read writes a local file, or ""."""
    service, action = path[0].lower(), path[1].lower()
    if f"{service} {action}" in _AWS_STREAMING_READS:
        return f"aws {service} {action} writes its answer to a local file"
    option = next((word for word in rest if word.startswith("--")
                   and _AWS_FILE_OPTION.search(_aws_option_name(word))), None)
    if option:
        return f"aws option {option} writes a local file"
    operands = [] if service in _AWS_OPERANDS_OK else _aws_operands(path, rest)
    if operands:
        return f"aws writes its answer to the local file {operands[-1]!r}"
    return ""


def _aws(argv: list[str]) -> Operation:
    split = _split_command(argv[1:], _AWS_VALUED, _AWS_FLAGS)
    if split is None or len(split[0]) < 2:
        return _opaque(argv, "aws call without service and action")
    path, rest = split
    service, action = path[0], path[1]
    kind = _AWS_S3.get(action, "other") if service == "s3" else _action_kind(action)
    exposed = _aws_prints_credentials(argv, path, rest)
    if kind == "read" and not exposed:
        writes = _aws_writes_file(path, rest)
        if writes:
            return _cloud_result(argv, "other", path[:2], writes)
    return _cloud_result(argv, kind, path[:2], exposed)


# --- az ---

_AZ_VALUED = frozenset({"--subscription", "--output", "-o", "--query"})
_AZ_FLAGS = frozenset({"--only-show-errors", "--debug", "--verbose"})
_AZ_SECRET_COMMANDS = re.compile(
    r"token|password|credential|connection-string|publishing|list-keys?\b|generate-sas"
    r"|keys? (?:list|show)|admin-key|query-key|secret (?:show|download|backup)|secrets list"
    r"|appsettings list", re.IGNORECASE)
_AZ_SECRET_FLAGS = frozenset({"--expose-token", "--show-values"})   # az acr login, containerapp secret list
_AZ_READ = re.compile(r"(?:list|show)(?:-[a-z0-9-]+)?|get-[a-z0-9-]+")


def _az(argv: list[str]) -> Operation:
    """az GROUP... COMMAND, all else options: the command is the last path word.  Only a
    plain read word counts as a read (`az config set list=1` sets, whatever it names)."""
    path = _leading_path(argv[1:], _AZ_VALUED, _AZ_FLAGS)
    if not path:
        return _opaque(argv, "az call without a command")
    exposed = _prints_credentials(argv, path, _AZ_SECRET_COMMANDS, _AZ_SECRET_FLAGS)
    command = path[-1]
    read = bool(_AZ_READ.fullmatch(command)) and command not in _NOT_READS
    kind = "read" if read else ("destructive" if _action_kind(command) == "destructive" else "other")
    return _cloud_result(argv, kind, path, exposed)


# --- gcloud ---
# gcloud [TRACK] GROUP [GROUP...] COMMAND [NAME...] [--flags]: names come after the command.
# The command is the first word that is not a known group; a call is a read only when that
# word is a known read command.  Group words are listed only when they never name a command
# anywhere in gcloud (checked against the SDK's command tree in the tests), so an unknown
# group, a verb or a NAME all end the walk and never turn a change into a read.

_GCLOUD_VALUED = frozenset({"--project", "--account", "--configuration", "--verbosity",
                            "--format", "--impersonate-service-account", "--billing-project"})
_GCLOUD_FLAGS = frozenset({"--quiet", "-q", "--log-http", "--no-user-output-enabled"})
_GCLOUD_TRACKS = frozenset({"alpha", "beta", "preview"})
_GCLOUD_TOP_GROUPS = frozenset("""
    access-context-manager ai ai-platform alloydb api-gateway apigee app apphub artifacts asset auth
    backup-dr batch beyondcorp bigtable billing bms builds certificate-manager cloud-shell composer
    compute config container data-catalog data-fusion database-migration dataflow dataplex dataproc
    datastore datastream deploy deployment-manager dns domains edge-cache endpoints essential-contacts
    eventarc filestore firebase firestore functions healthcare iam iap identity ids kms logging looker
    memcache memorystore metastore ml monitoring netapp network-connectivity network-security
    network-services notebooks org-policies organizations policy-intelligence privateca projects
    publicca pubsub recaptcha recommender redis resource-manager run scc scheduler secrets
    service-directory services source spanner sql storage tasks transfer vmware workbench workflows
    workstations""".split())
_GCLOUD_GROUPS = frozenset("""
    accelerator-types accounts addresses api-configs api-keys apis app-profiles application-default
    associated-projects attachments attestors autoscaling-policies backend-buckets backend-services
    backups batches binauthz buckets certificates channels client-certs clusters commitments configs
    custom-jobs dashboards databases datasets delivery-pipelines dicom-stores disk-types disks
    dns-authorizations docker domain-mappings ekm-connections endpoints entries environments
    event-types executions feeds fhir-stores fields files findings firewall-policies firewall-rules
    flags fleet folders forwarding-rules gateways groups health-checks hl7v2-stores hmac hub images
    import-jobs index-endpoints indexes insights instance-configs instance-groups instance-templates
    instances interconnects job-runs jobs keyrings keys levels links locations machine-images
    machine-types managed managed-folders managed-zones maps memberships models muteconfigs nats
    network-endpoint-groups network-firewall-policies networks node-groups node-pools node-templates
    notifications objects operations os-config os-login packages peerings perimeters policies pools
    project-info providers queues record-sets recommendations regions releases replication
    repositories reservations resource-policies response-policies revisions roles rollouts roots
    routers rules runtimes saved-queries schemas security-policies server-ca-certs service-accounts
    services sessions shared-vpc sinks snapshots sole-tenancy spokes ssh-keys ssl-certificates
    ssl-policies storage-pools subnets subordinates subscriptions tags target-http-proxies
    target-https-proxies target-instances target-pools target-ssl-proxies target-tcp-proxies
    target-vpn-gateways targets tasks templates tiers topics triggers unmanaged uptime url-maps
    users values versions views vpn-gateways vpn-tunnels workflow-templates worker-pools
    workforce-pools workload-identity-pools zones hubs logs registrations authorization-code""".split())
# Words that are a group under this parent only (a command elsewhere).
_GCLOUD_GROUPS_UNDER = frozenset({("compute", "routes"), ("config", "configurations"),
                                  ("sql", "ssl"), ("logging", "metrics")})
_GCLOUD_READS = frozenset({"list", "describe", "get-iam-policy", "get-ancestors-iam-policy",
                           "get-effective-iam-policy", "list-grantable-roles",
                           "list-testable-permissions"})
_GCLOUD_READS_UNDER = frozenset({("config", "get"), ("config", "get-value")})
_GCLOUD_SECRET_COMMANDS = re.compile(
    r"token|password|auth-string|key-string|authorization-code|config-helper"
    r"|secrets versions access|decrypt"
    r"|(?:^| )(?:functions|run (?:services|jobs|revisions)) describe$",     # environment variables
    re.IGNORECASE)
# `describe --attestation-file=F` saves to F; --flags-file can bring any flag.
_GCLOUD_FILE_WORDS = frozenset({"file", "outfile", "output", "destination", "dir", "directory"})


def _gcloud_command(path: list[str]) -> int:
    """Index of the command word in ``path`` (len(path) when it names only groups)."""
    i = 1 if path[0] in _GCLOUD_TRACKS else 0
    if i >= len(path) or path[i] not in _GCLOUD_TOP_GROUPS:
        return i
    i += 1
    while i < len(path) and (path[i] in _GCLOUD_GROUPS or (path[i - 1], path[i]) in _GCLOUD_GROUPS_UNDER):
        i += 1
    return i


def _gcloud_kind(path: list[str], at: int) -> str:
    if at >= len(path):
        return "other"                               # a group: gcloud prints its help
    command, group = path[at], path[at - 1] if at else ""
    if group not in _GCLOUD_TRACKS and group and (
            command in _GCLOUD_READS or (group, command) in _GCLOUD_READS_UNDER):
        return "read"
    return "destructive" if _action_kind(command) == "destructive" else "other"


def _gcloud_names_a_file(word: str) -> bool:
    return word.startswith("--") and not _GCLOUD_FILE_WORDS.isdisjoint(
        word.partition("=")[0][2:].split("-"))


def _gcloud(argv: list[str]) -> Operation:
    split = _split_command(argv[1:], _GCLOUD_VALUED, _GCLOUD_FLAGS)
    if not split or not split[0]:
        return _opaque(argv, "gcloud call without a command")
    path, rest = split
    at = _gcloud_command(path)
    kind = _gcloud_kind(path, at)
    exposed = _prints_credentials(argv, path[:at + 1], _GCLOUD_SECRET_COMMANDS)
    file_flag = next((word for word in rest if _gcloud_names_a_file(word)), None)
    if kind == "read" and file_flag and not exposed:
        return _cloud_result(argv, "other", path, f"gcloud option {file_flag} may write a local file")
    return _cloud_result(argv, kind, path, exposed)


_CLOUD_CLIS: dict[str, Callable[[list[str]], Operation]] = {"aws": _aws, "az": _az, "gcloud": _gcloud}
