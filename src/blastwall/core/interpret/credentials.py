"""Credentials an agent must not see: credential files, secret variables, the whole environment.

The agent reads the output of what it runs, and behind the MCP executors that output comes
from the gateway's own files and environment.  So a command that prints, copies or searches
a credential is no harmless read: the interpreters make it ``opaque`` with a reason that says
``credentials``, and the built-in policy never allows an opaque operation.

Paths are matched by their components, anywhere in the path: ``~/.aws``, ``$HOME/.aws``,
``/root/.aws``, ``/home/bob/.aws``, ``../.aws`` and ``/proc/1/root/root/.aws`` are all found.
A glob or an expanded variable counts when it could name a credential (``~/.a*/c*``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

EXPANDED = "\x00"                 # an expanded variable: anything at all, a leading dot included
_GLOB_CHARS = frozenset("*?[" + EXPANDED)


def _is_glob(component: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(component)


def _glob_matches(pattern: str, name: str) -> bool:
    """Bash pathname expansion: a leading dot is only matched by a literal dot (or by what a
    variable expands to: ``~/${X}.ssh`` may well be ``~/.ssh``)."""
    dot_ok = pattern.startswith((".", EXPANDED)) or not name.startswith(".")
    return dot_ok and fnmatchcase(name, pattern.replace(EXPANDED, "*"))


@dataclass(frozen=True)
class _Name:
    """One path component of a rule, and example names that a glob is tried on."""
    regex: re.Pattern
    examples: tuple[str, ...]

    def matches(self, component: str) -> bool:
        if _is_glob(component):
            return any(_glob_matches(component, name) for name in self.examples)
        return bool(self.regex.fullmatch(component))


def _named(pattern: str, *examples: str) -> _Name:
    return _Name(re.compile(pattern), examples)


@dataclass(frozen=True)
class _Rule:
    names: tuple[_Name, ...]
    tree: bool                       # a directory: everything under it counts too
    keep: re.Pattern | None = None   # what may sit inside the directory and is no secret


def _rule(*parts: str | _Name, tree: bool = False, keep: str | None = None) -> _Rule:
    names = tuple(_named(re.escape(p), p) if isinstance(p, str) else p for p in parts)
    return _Rule(names, tree, re.compile(keep) if keep else None)


def _directory(*parts: str | _Name, keep: str | None = None) -> _Rule:
    return _rule(*parts, tree=True, keep=keep)


_PID = _named(r"[0-9]+|self|thread-self", "1", "self", "thread-self")
_ENV_FILE = _named(r"(?!.*\.(?:example|sample|template|dist|defaults?|schema)$)"
                   r"(?:[^/]*\.env|\.env\.[^/]+)", ".env", ".env.local", "prod.env")

# Path components are compared in lower case (macOS file systems ignore case).
_RULES: tuple[_Rule, ...] = (
    # directories that hold credentials and little else
    _directory(".aws"), _directory(".kube"), _directory(".azure"), _directory(".gnupg"),
    _directory(".password-store"), _directory(".config", "gcloud"), _directory(".config", "gh"),
    _directory("legacy_credentials"),
    _directory(".ssh", keep=r".*\.pub|known_hosts.*|authorized_keys.*|config"),
    _directory("run", "secrets"),                      # /run/secrets, /var/run/secrets (pod tokens)
    _directory("etc", "kubernetes"), _directory("etc", "rancher"),
    # files recognisable by their name, wherever they are
    _rule(".docker", "config.json"), _rule(_ENV_FILE), _rule(".envrc"), _rule(".netrc"),
    _rule("_netrc"), _rule(".pgpass"), _rule(".git-credentials"), _rule(".vault-token"),
    _rule(".npmrc"), _rule(".pypirc"), _rule(".my.cnf"), _rule(".boto"), _rule(".s3cfg"),
    _rule(".terraformrc"), _rule(".dockercfg"),
    _rule(_named(r"credentials(?:\.json|\.toml|\.db|\.csv|\.tfrc\.json)?", "credentials",
                 "credentials.json", "credentials.db")),
    _rule("accesskeys.csv"), _rule("access_tokens.db"), _rule("application_default_credentials.json"),
    _rule("accesstokens.json"), _rule(_named(r"msal_token_cache\.[a-z]+", "msal_token_cache.json")),
    _rule("service_principal_entries.json"),
    _rule(".claude", ".credentials.json"), _rule(".codex", "auth.json"), _rule("containers", "auth.json"),
    _directory(".config", "sops"), _rule(".databrickscfg"), _rule(".git-credential-cache"),
    _rule(_named(r"kubeconfig(?![^/]*\.(?:md|rst|txt|html|adoc)$)[^/]*|[^/]+\.kubeconfig", "kubeconfig")),
    _rule(_named(r"id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?", "id_rsa", "id_ed25519")),
    _rule(_named(r"ssh_host_[a-z0-9]+_key", "ssh_host_rsa_key")),
    _rule(_named(r"[^/]+\.(?:key|p12|pfx)|[^/]*key[^/]*\.pem", "server.key", "key.pem")),
    _rule(_named(r"[^/]*\.tfstate(?:\.backup)?", "terraform.tfstate")),   # state holds secrets in clear
    _rule("etc", _named(r"g?shadow-?", "shadow")),
    # a process's environment: /proc/PID/environ, /proc/PID/task/TID/environ
    _rule("environ"), _rule("proc", _PID, "environ"), _rule("task", _PID, "environ"),
)

# Directories whose whole tree holds credentials somewhere (for recursive searches).
_HOME = ("home", "*")
_CREDENTIAL_TREES: tuple[tuple[str | _Name, ...], ...] = (
    _HOME, ("users", "*"), ("root",), ("proc", _PID, "task", _PID, "environ"), ("proc", _PID, "root"),
    ("run", "secrets"), ("var", "run", "secrets"), ("etc", "kubernetes"), ("etc", "rancher"),
)
_HOME_WORDS = frozenset({"~", "$home", "${home}"})


# --- variables -----------------------------------------------------------------------

_SECRET_VARIABLE = re.compile(
    r"SECRET|TOKEN|PASSW|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|(?:^|_)AUTH(?:_|$)"
    r"|(?:^|_)PASS(?:_|$)|_PWD$"
    r"|(?:^|_)(?:KEY|PAT|DSN)$|DATABASE_URL|CONNECTION_STRING", re.IGNORECASE)
# Variables that name a credential file or directory.
_CREDENTIAL_FILE_VARIABLES = frozenset({
    "KUBECONFIG", "AWS_CONFIG_FILE", "CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR", "DOCKER_CONFIG",
    "GNUPGHOME", "NETRC", "PGPASSFILE", "TF_CLI_CONFIG_FILE", "PASSWORD_STORE_DIR",
})
_PARAMETER = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_ANY_PARAMETER = re.compile(r"\$\{?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])\}?")


def is_secret_variable(name: str) -> bool:
    """The variable holds a credential or names a credential file."""
    return bool(_SECRET_VARIABLE.search(name)) or name.upper() in _CREDENTIAL_FILE_VARIABLES


def secret_variable(word: str) -> str | None:
    """The first secret variable the word expands (``$GITHUB_TOKEN``, ``${KUBECONFIG}``)."""
    return next((m.group(1) for m in _PARAMETER.finditer(word) if is_secret_variable(m.group(1))),
                None)


# --- paths ---------------------------------------------------------------------------

def _spellings(word: str) -> list[str]:
    """The paths a word may name: itself, an option's value (``--file=P``, ``-fP``), the path
    of ``REV:PATH`` or ``HOST:PATH``, each with its braces expanded (``~/.{aws,x}``)."""
    candidates = [word]
    if "=" in word:
        candidates.append(word.partition("=")[2])
    if word.startswith("-") and not word.startswith("--"):
        candidates.append(word[2:])
    if ":" in word:
        candidates.append(word.partition(":")[2])
    return [path for c in candidates for path in _expand_braces(c)]


_BRACES = re.compile(r"\{([^{}]*)\}")
MAX_BRACE_WORDS = 64


def _expand_braces(word: str) -> list[str]:
    """Bash brace expansion, innermost first; ``{a..z}`` stands for anything."""
    words, done = [word], []
    while words and len(done) + len(words) <= MAX_BRACE_WORDS:
        current = words.pop()
        match = next((m for m in _BRACES.finditer(current) if "," in m.group(1) or ".." in m.group(1)),
                     None)
        if match is None:
            done.append(current)
            continue
        head, tail = current[:match.start()], current[match.end():]
        inner = match.group(1)
        choices = ["*"] if "," not in inner else inner.split(",")
        words += [head + choice + tail for choice in choices]
    return done + words            # past the limit: the rest unexpanded, still checked


def _components(path: str) -> list[str]:
    """Path components in lower case; an expanded variable becomes ``*`` (it may be anything)."""
    path = _ANY_PARAMETER.sub(EXPANDED, path)
    return [c.lower() for c in path.split("/") if c not in ("", ".")]


def _resolve_dots(components: list[str]) -> list[str]:
    """``a/b/../c`` -> ``a/c``, as far as the path itself tells."""
    out: list[str] = []
    for c in components:
        if c == ".." and out and out[-1] != "..":
            out.pop()
        else:
            out.append(c)
    return out


def _matches_at(rule: _Rule, components: list[str], start: int) -> bool:
    end = start + len(rule.names)
    if end > len(components) or (not rule.tree and end != len(components)):
        return False
    first = components[start]
    if len(rule.names) == 1 and _is_glob(first) and not first.strip("*?" + EXPANDED):
        return False                                    # a bare `*` could be any file at all
    if not all(name.matches(c) for name, c in zip(rule.names, components[start:end])):
        return False
    return not (rule.keep and end == len(components) - 1 and _kept(rule.keep, components[end]))


def _kept(keep: re.Pattern, component: str) -> bool:
    """The file in the directory is no secret (``id_rsa.pub``, also ``*.pub``)."""
    if _is_glob(component):
        return component.endswith(".pub")
    return bool(keep.fullmatch(component))


def _names_credentials(components: list[str]) -> bool:
    return any(_matches_at(rule, components, start)
               for rule in _RULES for start in range(len(components)))


def credential_path(word: str) -> bool:
    """The word names a credential file or directory (or may, being a glob)."""
    for path in _spellings(word):
        components = _components(path)
        if _names_credentials(components) or _names_credentials(_resolve_dots(components)):
            return True
    return False


def holds_credentials(word: str) -> bool:
    """The word names a directory with credentials somewhere below it (``~``, ``/home``, ``/``):
    a recursive search of it reads them."""
    raw = word.lower()
    first, _, rest = raw.partition("/")
    if first in _HOME_WORDS or re.fullmatch(r"~[a-z0-9_.-]+", first):
        components = [*_HOME, *_components(rest)]
    elif raw.startswith("/"):
        components = _components(raw)
    else:
        return False                 # relative: where it points is not known
    components = _rerooted(_resolve_dots(components))
    return any(len(components) <= len(tree) and all(_on_tree(c, t) for c, t in zip(components, tree))
               for tree in _CREDENTIAL_TREES)


def _on_tree(component: str, tree_component: str | _Name) -> bool:
    if isinstance(tree_component, _Name):
        return tree_component.matches(component)
    return (_glob_matches(component, tree_component) or component == tree_component
            or tree_component == "*")


def _rerooted(components: list[str]) -> list[str]:
    """``/proc/PID/root/X`` (also ``/proc/PID/task/TID/root/X``) is ``/X``, seen through the
    root directory of a process."""
    while True:
        if components[:1] == ["proc"] and len(components) >= 3 and _PID.matches(components[1]):
            if components[2] == "root":
                components = components[3:]
                continue
            if (len(components) >= 5 and components[2] == "task" and _PID.matches(components[3])
                    and components[4] == "root"):
                components = components[5:]
                continue
        return components


# --- reasons -------------------------------------------------------------------------

def exposed_by(word: str, paths: bool = True) -> str:
    """Why a word would show a credential: it expands a secret variable or (``paths``) names
    a credential file.  "" when it does neither."""
    variable = secret_variable(word)
    if variable:
        return f"reads credentials (${variable})"
    if paths and credential_path(word):
        return f"reads credentials ({word})"
    return ""


def exposed_by_any(words, paths: bool = True) -> str:
    return next((why for why in (exposed_by(w, paths) for w in words) if why), "")


PRINTS_ENVIRONMENT = "prints credentials (the whole environment, tokens included)"
