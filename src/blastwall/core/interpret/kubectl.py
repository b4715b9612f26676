"""kubectl argv -> Operations.

Pure: the only I/O is the injected ``files`` reader for ``-f`` manifests; no clock.
Targets use the contract's alias forms ``k8s:CONTEXT:KIND:NAMESPACE/NAME`` (namespaced)
and ``k8s:CONTEXT:KIND:NAME`` (cluster-scoped).  Fail closed: whatever cannot be
interpreted with certainty becomes ``opaque`` (exec on an unknown target), and so does
a read that would show the agent a credential (Secret data, tokens, the raw kubeconfig),
and so does a rewrite of the kubeconfig (``config set-context``, ``use-context`` ...): it
changes which cluster the commands that follow reach under the same ``--context``.

The argv is scanned the way kubectl's flag library (pflag) scans it: flags may appear
anywhere, ``--`` ends them, ``--flag=value``/``--flag value``/``-fvalue``/``-f=value``
and bundled boolean shorthands (``-it``) are understood.  An unknown flag is an error
for every built-in kubectl command, so it makes the whole command opaque.

Manifests are read the way kubectl reads them: documents split at every line that begins
with ``---``, ``-f a,b`` read as the CSV record pflag reads, any object with ``items`` taken
as a list.  Where kubectl and PyYAML could see different objects (a duplicate key, a line
starting with ``---`` that YAML does not take for a separator), the manifest is opaque.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import unquote

import yaml

from blastwall.core.interpret import credentials
from blastwall.core.interpret.argv import FileReader
from blastwall.core.model import Operation, Verb, opaque
from blastwall.errors import ProposalError


class _Unsure(Exception):
    """The command cannot be interpreted with certainty (the message says why)."""


# --------------------------------------------------------------------------- kinds

# Lower-case singular kind -> kubectl short names.
_NAMESPACED_KINDS: dict[str, tuple[str, ...]] = {
    "pod": ("po",), "service": ("svc",), "deployment": ("deploy",),
    "statefulset": ("sts",), "daemonset": ("ds",), "replicaset": ("rs",),
    "replicationcontroller": ("rc",), "job": (), "cronjob": ("cj",),
    "configmap": ("cm",), "secret": (), "persistentvolumeclaim": ("pvc",),
    "serviceaccount": ("sa",), "ingress": ("ing",), "networkpolicy": ("netpol",),
    "poddisruptionbudget": ("pdb",), "horizontalpodautoscaler": ("hpa",),
    "role": (), "rolebinding": (), "endpoints": ("ep",), "endpointslice": (),
    "event": ("ev",), "limitrange": ("limits",), "resourcequota": ("quota",),
    "podtemplate": (), "lease": (), "controllerrevision": (), "csistoragecapacity": (),
}
_CLUSTER_KINDS: dict[str, tuple[str, ...]] = {
    "namespace": ("ns",), "node": ("no",), "persistentvolume": ("pv",),
    "storageclass": ("sc",), "clusterrole": (), "clusterrolebinding": (),
    "customresourcedefinition": ("crd", "crds"), "priorityclass": ("pc",),
    "mutatingwebhookconfiguration": (), "validatingwebhookconfiguration": (),
    "apiservice": (), "certificatesigningrequest": ("csr",), "ingressclass": (),
    "runtimeclass": (), "csidriver": (), "csinode": (), "volumeattachment": (),
    "componentstatus": ("cs",), "validatingadmissionpolicy": (),
    "validatingadmissionpolicybinding": (), "flowschema": (),
    "prioritylevelconfiguration": (),
}
# What `kubectl get all` / `delete all` covers.
_ALL_CATEGORY = ("pod", "service", "daemonset", "deployment", "replicaset", "statefulset",
                 "replicationcontroller", "horizontalpodautoscaler", "job", "cronjob")
_BUILTIN_GROUPS = frozenset({
    "", "core", "apps", "batch", "extensions", "policy", "autoscaling",
    "networking.k8s.io", "rbac.authorization.k8s.io", "storage.k8s.io",
    "apiextensions.k8s.io", "admissionregistration.k8s.io", "apiregistration.k8s.io",
    "scheduling.k8s.io", "certificates.k8s.io", "coordination.k8s.io",
    "discovery.k8s.io", "events.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io",
    "metrics.k8s.io", "resource.k8s.io", "authorization.k8s.io", "authentication.k8s.io",
})
_VERSION = re.compile(r"v[0-9]+(?:(?:alpha|beta)[0-9]+)?")
_GROUP = re.compile(r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?")
_GUESSABLE = re.compile(r"[a-z][a-z0-9]*")
_MANIFEST_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str               # lower-case singular kind, as in aliases
    cluster: bool           # cluster-scoped
    certain: bool = True    # False: a custom kind whose spelling or scope is guessed


def _plural(kind: str) -> str:
    if kind.endswith("y"):
        return kind[:-1] + "ies"
    if kind.endswith(("ss", "us")):
        return kind + "es"
    return kind if kind.endswith("s") else kind + "s"


def _spellings() -> dict[str, str]:
    """Every way kubectl lets you name a built-in type -> its kind."""
    table: dict[str, str] = {}
    for kinds in (_NAMESPACED_KINDS, _CLUSTER_KINDS):
        for kind, shorts in kinds.items():
            for word in (kind, _plural(kind), *shorts):
                table[word] = kind
    return table


_SPELLINGS = _spellings()
_KNOWN_KINDS = frozenset(_NAMESPACED_KINDS) | frozenset(_CLUSTER_KINDS)
_POD = _Kind("pod", False)
_NODE = _Kind("node", True)
_SERVICE = _Kind("service", False)
_CSR = _Kind("certificatesigningrequest", True)


def _builtin(kind: str) -> _Kind:
    return _Kind(kind, kind in _CLUSTER_KINDS)


def _strip_version(rest: str) -> str:
    """`v1.apps` -> `apps`; `v1` -> `` (the core group)."""
    head, _, tail = rest.partition(".")
    return tail if _VERSION.fullmatch(head) else rest


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _kinds_of(token: str) -> list[_Kind]:
    """A resource type as kubectl accepts it (`TYPE[.VERSION][.GROUP]`) -> kinds."""
    if not token.isascii():
        raise _Unsure(f"non-ASCII resource type {token!r}")
    base, dot, rest = token.lower().partition(".")
    group = _strip_version(rest)
    if base == "all" and not dot:
        return [_builtin(k) for k in _ALL_CATEGORY]
    if base in _SPELLINGS:
        if group not in _BUILTIN_GROUPS:     # a custom type shadowing a built-in name
            raise _Unsure(f"resource type {token!r} is not the built-in one")
        return [_builtin(_SPELLINGS[base])]
    return [_guess_kind(token, base, group, bool(dot))]


def _guess_kind(token: str, base: str, group: str, grouped: bool) -> _Kind:
    """A custom resource type: singularise its name; its scope stays a guess."""
    guess = _singular(base)
    if grouped and (group in _BUILTIN_GROUPS or not _GROUP.fullmatch(group)):
        raise _Unsure(f"unknown resource type {token!r}")
    if not _GUESSABLE.fullmatch(guess) or guess in _KNOWN_KINDS:
        raise _Unsure(f"unknown resource type {token!r}")
    return _Kind(guess, False, certain=False)


def _manifest_kind(kind: object, api_version: object) -> _Kind:
    """`kind` + `apiVersion` of a manifest object -> kind."""
    if not isinstance(kind, str) or not kind.isascii() or not _MANIFEST_KIND.fullmatch(kind):
        raise _Unsure("object without a usable kind")
    if not isinstance(api_version, str) or not api_version:
        raise _Unsure(f"{kind} without apiVersion")
    low = kind.lower()
    group = api_version.rpartition("/")[0]
    if low in _KNOWN_KINDS:
        if group not in _BUILTIN_GROUPS:
            raise _Unsure(f"{kind} of {api_version} is not the built-in kind")
        return _builtin(low)
    if low.endswith("list"):
        raise _Unsure(f"{kind} without items")
    return _Kind(low, False, certain=False)


# --------------------------------------------------------------------------- flags

_VALUE, _BOOL, _OPTIONAL = "value", "bool", "optional"   # _OPTIONAL: value only after '='

_VALUE_FLAGS = """
as as-group as-uid as-user-extra cache-dir certificate-authority client-certificate
client-key cluster context kubeconfig kuberc log-flush-frequency namespace password
profile profile-output request-timeout server tls-server-name token user username v
vmodule output template selector field-selector filename kustomize sort-by label-columns
chunk-size raw subresource grace-period timeout for types patch patch-file type replicas
current-replicas resource-version min max cpu-percent cpu memory name image port
target-port protocol external-ip load-balancer-ip cluster-ip session-affinity labels env
overrides override-type restart image-pull-policy annotations to-revision revision
container containers pod-running-timeout tail since since-time limit-bytes
max-log-requests address field-manager prune-allowlist prune-whitelist applyset from
from-literal from-file from-env-file schedule hard scopes verb resource resource-name
clusterrole role group serviceaccount aggregation-rule non-resource-url rule class
default-backend annotation value description preemption-policy min-available
max-unavailable tcp node-port external-name clusterip cert key docker-server
docker-username docker-password docker-email limits requests keys prefix pod-selector
skip-wait-for-delete-timeout target copy-to set-image custom output-directory namespaces
duration audience bound-object-kind bound-object-name bound-object-uid api-version
api-group verbs categories concurrency retries detach-keys
""".split()
_BOOL_FLAGS = """
all all-namespaces all-containers all-pods allow-missing-template-keys append-hash
arguments-only attach cached client command create-annotation delete-emptydir-data
delete-local-data disable-compression disable-eviction edit expose follow force
force-conflicts global-default help ignore-daemonsets ignore-errors ignore-not-found
insecure-skip-tls-verify insecure-skip-tls-verify-backend interactive keep-annotations
keep-init-containers keep-labels keep-liveness keep-readiness keep-startup
leave-stdin-open list local match-server-version namespaced no-headers no-preserve now
openapi-patch output-patch output-watch-events overwrite previous privileged prune quiet
record recursive remove-extra-permissions remove-extra-subjects replace resolve rm
same-node save-config server-print server-side share-processes short show-capacity
show-events show-kind show-labels show-managed-fields show-secrets show-swap stdin sum
timestamps tty use-protocol-buffers wait warnings-as-errors watch watch-only
windows-line-endings
""".split()
_FLAGS: dict[str, str] = {
    **{name: _VALUE for name in _VALUE_FLAGS},
    **{name: _BOOL for name in _BOOL_FLAGS},
    "dry-run": _OPTIONAL, "cascade": _OPTIONAL, "validate": _OPTIONAL,
}
_SHORT = {
    "n": "namespace", "l": "selector", "f": "filename", "o": "output",
    "A": "all-namespaces", "R": "recursive", "k": "kustomize", "L": "label-columns",
    "c": "container", "i": "stdin", "t": "tty", "w": "watch", "q": "quiet", "s": "server",
    "v": "v", "p": "patch", "e": "env", "h": "help",
}
# kubectl kustomize's own flags (kustomize v5, as built into kubectl).
_KUSTOMIZE_FLAGS = {
    "enable-managedby-label": _BOOL, "reorder": _VALUE, "load-restrictor": _VALUE,
    "enable-helm": _BOOL, "helm-command": _VALUE, "helm-api-versions": _VALUE,
    "helm-kube-version": _VALUE, "helm-debug": _BOOL, "enable-alpha-plugins": _BOOL,
    "enable-exec": _BOOL, "enable-star": _BOOL, "as-current-user": _BOOL, "mount": _VALUE,
    "network": _BOOL, "network-name": _VALUE, "env": _VALUE, "stack-trace": _BOOL,
}
# Where a subcommand gives a flag another meaning.
_COMMAND_FLAGS = {"logs": {"prefix": _BOOL}, "top": {"containers": _BOOL},
                  "kustomize": _KUSTOMIZE_FLAGS}
_COMMAND_SHORT = {
    "logs": {"f": "follow", "p": "previous"},
    "run": {"l": "labels"}, "expose": {"l": "labels"}, "create": {"r": "replicas"},
}
# kubectl's global flags (`kubectl options`): they apply to every command.
_GLOBAL_FLAGS = frozenset("""
as as-group as-uid as-user-extra cache-dir certificate-authority client-certificate client-key
cluster context disable-compression insecure-skip-tls-verify kubeconfig kuberc
log-flush-frequency match-server-version namespace password profile profile-output
request-timeout server tls-server-name token user username v vmodule warnings-as-errors help
""".split())
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


@dataclass
class _Scan:
    words: list[str] = field(default_factory=list)    # positional words, command first
    dash: int | None = None                            # index of the first word after "--"
    flags: dict[str, list[str]] = field(default_factory=dict)
    stop: int = 0                                      # tokens read (first_word: up to the word)

    def add(self, name: str, value: str) -> None:
        self.flags.setdefault(name, []).append(value)


def _bool(name: str, value: str) -> str:
    if value in _TRUE:
        return "true"
    if value in _FALSE:
        return "false"
    raise _Unsure(f"--{name}={value!r} is not a boolean")


def _scan(tokens: list[str], command: str | None = None, first_word: bool = False) -> _Scan:
    """Split tokens into flags and words like pflag; stop early for the command word."""
    kinds = {**_FLAGS, **_COMMAND_FLAGS.get(command or "", {})}
    shorts = {**_SHORT, **_COMMAND_SHORT.get(command or "", {})}
    out, i = _Scan(), 0
    while i < len(tokens):
        token, i = tokens[i], i + 1
        if token == "--":
            out.dash = len(out.words)
            out.words += tokens[i:]
            break
        if token.startswith("--"):
            i = _long_flag(token[2:], tokens, i, kinds, out)
        elif token.startswith("-") and len(token) > 1:
            i = _short_flags(token[1:], tokens, i, shorts, kinds, out)
        else:
            out.words.append(token)
            if first_word:
                break
    out.stop = i
    return out


def _long_flag(body: str, tokens: list[str], i: int, kinds: dict, out: _Scan) -> int:
    name, eq, value = body.partition("=")
    kind = kinds.get(name)
    if kind is None:
        raise _Unsure(f"unknown flag --{name}")
    if kind == _BOOL:
        value = _bool(name, value) if eq else "true"
    elif kind == _VALUE and not eq:
        if i >= len(tokens):
            raise _Unsure(f"--{name} needs a value")
        value, i = tokens[i], i + 1
    out.add(name, value)        # an _OPTIONAL flag without '=' records "" (its default)
    return i


def _short_flags(body: str, tokens: list[str], i: int, shorts: dict, kinds: dict,
                 out: _Scan) -> int:
    """`-it`, `-nweb`, `-n=web`, `-n web`, `-A=false`."""
    for j, letter in enumerate(body):
        name = shorts.get(letter)
        if name is None:
            raise _Unsure(f"unknown flag -{letter}")
        rest = body[j + 1:]
        if kinds[name] == _BOOL:
            if len(rest) > 1 and rest[0] == "=":
                out.add(name, _bool(name, rest[1:]))
                return i
            out.add(name, "true")
            continue
        if len(rest) > 1 and rest[0] == "=":
            rest = rest[1:]
        if not rest:
            if i >= len(tokens):
                raise _Unsure(f"-{letter} needs a value")
            rest, i = tokens[i], i + 1
        out.add(name, rest)
        return i
    return i


# --------------------------------------------------------------------------- the command

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}")
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")
_DRY_VALUES = frozenset({"", "unchanged", "client", "server"})   # "" = bare --dry-run


@dataclass(frozen=True, slots=True)
class _Ref:
    kind: _Kind
    name: str
    namespace: str | None       # None for cluster-scoped kinds


@dataclass
class _Scope:
    """What a command addresses: named objects, bare kinds, unreadable manifests."""
    refs: list[_Ref] = field(default_factory=list)
    kinds: list[_Kind] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    named: bool = False         # names were given on the command line


def _short(text: str) -> str:
    label = " ".join(text.split())
    return label if len(label) <= 80 else label[:77] + "..."


@dataclass
class _Cmd:
    command: str
    words: list[str]            # positional words after the command word
    dash: int | None            # index in words of the first word after "--"
    flags: dict[str, list[str]]
    files: FileReader | None
    text: str                   # the command line, for notes
    ctx: str = ""
    dry: str = ""               # why nothing changes: "dry run", "--local", "--list"
    manifests: dict = field(default_factory=dict)     # path -> _manifest_objects(path)

    # -- flags
    def value(self, name: str) -> str | None:
        values = self.flags.get(name)
        return values[-1] if values else None

    def on(self, name: str) -> bool:
        return self.value(name) == "true"

    @property
    def head(self) -> list[str]:
        """Words before `--`."""
        return self.words if self.dash is None else self.words[:self.dash]

    @property
    def sub(self) -> str:
        return self.head[0] if self.head else ""

    @property
    def namespace(self) -> str:
        ns = self.value("namespace")
        if ns is None:
            return "default"
        if not _NAMESPACE.fullmatch(ns):
            raise _Unsure(f"unusable namespace {ns!r}")
        return ns

    @property
    def all_namespaces(self) -> bool:
        return self.on("all-namespaces")

    @property
    def selecting(self) -> bool:
        """-l / --all / --field-selector choose the objects (for commands that select)."""
        return self.command in _SELECTING and (
            self.value("selector") is not None or self.on("all")
            or self.value("field-selector") is not None)

    @property
    def destructive(self) -> bool:
        return (self.command == "delete"
                or (self.command in ("replace", "apply") and self.on("force"))
                or (self.command == "apply" and self.on("prune")))

    def filenames(self) -> list[str]:
        return self.csv("filename")

    def csv(self, name: str) -> list[str]:
        """Every item of a list flag (`-f a.yaml,b.yaml -f c.yaml`)."""
        return [item for v in self.flags.get(name, []) for item in _csv_items(name, v)]

    # -- objects and aliases
    def ref(self, kind: _Kind, name: str, namespace: str | None = None) -> _Ref:
        if not _NAME.fullmatch(name):
            raise _Unsure(f"unusable name {name!r}")
        if kind.cluster:
            return _Ref(kind, name, None)
        return _Ref(kind, name, self.namespace if namespace is None else namespace)

    def alias(self, ref: _Ref) -> str:
        if ref.namespace is None:
            return f"k8s:{self.ctx}:{ref.kind.name}:{ref.name}"
        return f"k8s:{self.ctx}:{ref.kind.name}:{ref.namespace}/{ref.name}"

    def namespace_alias(self, ns: str) -> str:
        return f"k8s:{self.ctx}:namespace:{ns}"

    @property
    def cluster_alias(self) -> str:
        return f"k8s:{self.ctx}:cluster:{self.ctx}"

    @property
    def action(self) -> str:
        if self.command in _SUBCOMMANDED and self.sub:
            return f"{self.command} {self.sub}"
        return self.command

    def note(self, what: str) -> str:
        return f"kubectl {self.action} {what}" + (f" ({self.dry})" if self.dry else "")

    # -- operations
    def read_op(self, ref: _Ref) -> Operation:
        fallback = None if ref.namespace is None else self.namespace_alias(ref.namespace)
        return Operation(Verb.READ, target=self.alias(ref), fallback=fallback,
                         note=self.note(_describe(ref)))

    def list_reads(self, kinds: list[_Kind]) -> list[Operation]:
        """Listing reads: one on the namespace, one on the cluster (-A, cluster kinds)."""
        wide = [_plural(k.name) for k in kinds if k.cluster or self.all_namespaces]
        narrow = [_plural(k.name) for k in kinds if not (k.cluster or self.all_namespaces)]
        ops = []
        if narrow:
            ns = self.namespace
            ops.append(Operation(Verb.READ, target=self.namespace_alias(ns),
                                 note=self.note(f"{','.join(narrow)} in namespace {ns}")))
        if wide:
            ops.append(Operation(Verb.READ, target=self.cluster_alias,
                                 note=self.note(f"{','.join(wide)} (whole cluster)")))
        return ops

    def broad_read(self, why: str = "") -> Operation:
        note = self.note("(whole cluster)") + (f": {why}" if why else "")
        return Operation(Verb.READ, target=self.cluster_alias, note=note)

    def change(self, verb: Verb, ref: _Ref, upsert: bool = False) -> Operation:
        if self.dry:
            return self.read_op(ref)
        return Operation(verb, target=self.alias(ref), upsert=upsert,
                         note=self.note(_describe(ref)))

    def select(self, verb: Verb, kind: _Kind) -> Operation:
        if self.dry:
            return self.list_reads([kind])[0]
        if not kind.certain:
            raise _Unsure(f"cannot select {kind.name} objects by label")
        where = "" if kind.cluster or self.all_namespaces else f"{self.namespace}/"
        selector: dict = {"alias_prefix": f"k8s:{self.ctx}:{kind.name}:{where}"}
        tags = _equality_selector(self.value("selector"))
        if tags is not None:
            selector["tags"] = tags
        return Operation(verb, selector=selector, note=self.note(self._selection(kind)))

    def _selection(self, kind: _Kind) -> str:
        scope = ("in all namespaces" if self.all_namespaces and not kind.cluster
                 else "" if kind.cluster else f"in namespace {self.namespace}")
        parts = [f"{_plural(kind.name)}", scope]
        for flag in ("selector", "field-selector"):
            if self.value(flag) is not None:
                parts.append(f"matching {flag} {self.value(flag)}")
        if self.on("all"):
            parts.append("(--all)")
        return " ".join(p for p in parts if p)

    def unknown(self, why: str) -> Operation:
        if self.dry:
            return self.broad_read(why)
        return opaque(f"{self.text} ({why})", destructive=self.destructive)


def _describe(ref: _Ref) -> str:
    where = "" if ref.namespace is None else f"{ref.namespace}/"
    return f"{ref.kind.name} {where}{ref.name}"


def _csv_items(name: str, value: str) -> list[str]:
    """The items of a pflag StringSlice value (`--filename`, `--from-file`, `--from-env-file`).

    pflag reads the value as one CSV record (Go's encoding/csv): `"a,b"` is the one file
    `a,b`, `"m.yaml"` is `m.yaml`, and a line break ends the record.  Rather than imitate Go's
    quoting rules, a value with a quote or a line break is not interpreted."""
    if any(ch in value for ch in '"\r\n'):
        raise _Unsure(f"--{name} {value!r} has a quote or a line break: kubectl reads it as CSV")
    return value.split(",")


# --------------------------------------------------------------------------- selectors

_LABEL_KEY = re.compile(
    r"(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def _equality_selector(text: str | None) -> dict[str, str] | None:
    """`k=v[,k2==v2]` -> tags; anything else (`!=`, `in (...)`, `!k`, `k`) is unsure."""
    if text is None:
        return None
    tags: dict[str, str] = {}
    for term in text.split(","):
        key, value = _equality_term(term)
        if key is None or tags.get(key, value) != value:
            raise _Unsure(f"label selector {text!r} is not plain key=value")
        tags[key] = value
    return tags


def _equality_term(term: str) -> tuple[str | None, str]:
    if "!" in term:
        return None, ""
    key, op, value = term.partition("==") if "==" in term else term.partition("=")
    if not op or not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(value):
        return None, ""
    return key, value


# --------------------------------------------------------------------------- objects

def _type_name(c: _Cmd, word: str) -> list[_Ref]:
    """`TYPE/NAME` -> refs (one per kind, `all/NAME` gives several)."""
    type_, _, name = word.partition("/")
    if "/" in name:
        raise _Unsure(f"{word!r} has more than one '/'")
    return [c.ref(kind, name) for kind in _kinds_of(type_)]


def _resource_args(c: _Cmd, words: list[str]) -> _Scope:
    """kubectl's resource arguments: `TYPE/NAME ...` or `TYPE[,TYPE] [NAME ...]`."""
    if not words:
        return _Scope()
    if any("/" in w for w in words):
        if not all("/" in w for w in words):
            raise _Unsure("TYPE/NAME mixed with TYPE NAME arguments")
        return _Scope(refs=[r for w in words for r in _type_name(c, w)], named=True)
    kinds = [k for t in words[0].split(",") for k in _kinds_of(t)]
    names = words[1:]
    if not names:
        return _Scope(kinds=kinds)
    return _Scope(refs=[c.ref(k, n) for k in kinds for n in names], named=True)


def _scope(c: _Cmd, words: list[str]) -> _Scope:
    """Resource arguments plus every object of every -f manifest."""
    scope = _resource_args(c, words)
    for path in c.filenames():
        refs, bad = _manifest_objects(c, path)
        scope.refs += refs
        scope.bad += bad
    if c.value("kustomize") is not None:
        scope.bad.append("kustomize directory (-k) cannot be read")
    return scope


def _split_pairs(words: list[str], is_pair: Callable[[str], bool]) -> list[str]:
    """Resource words before `key=value`-like words (label, annotate, set, taint)."""
    resources: list[str] = []
    for n, word in enumerate(words):
        if is_pair(word):
            if not all(is_pair(w) for w in words[n:]):
                raise _Unsure(f"resource {word!r} after a key=value argument")
            break
        resources.append(word)
    return resources


# --------------------------------------------------------------------------- manifests

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _manifest_text(c: _Cmd, path: str) -> str:
    if path == "-":
        raise _Unsure("manifest from stdin cannot be read")
    if not path or _URL.match(path):
        raise _Unsure(f"manifest {path!r} cannot be read")
    text = None
    if c.files is not None:
        try:
            text = c.files(path)
        except Exception:           # a failing reader is an unreadable file
            text = None
    if not isinstance(text, str):
        raise _Unsure(f"manifest {path} cannot be read")
    return text


class _DuplicateKey(Exception):
    def __init__(self, key: object):
        super().__init__(key)
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that holds a key twice.

    With a key twice, which value counts depends on the reader (PyYAML keeps the last, so does
    kubectl's, today); and a line that only PyYAML reads as a key (`---#: x`) hides the
    objects after it behind duplicate keys.  Checked before merge keys (`<<`) are flattened,
    so an explicit key that overrides a merged one is no duplicate."""

    def __init__(self, stream):
        super().__init__(stream)
        self._checked: set[int] = set()

    def flatten_mapping(self, node):
        if id(node) not in self._checked:        # node.value is rewritten by the first flatten
            self._checked.add(id(node))
            seen: set = set()
            merges = 0
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    merges += 1
                    if merges > 1:
                        raise _DuplicateKey("<<")
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:                 # an unhashable key raises: unparsable
                    raise _DuplicateKey(key)
                seen.add(key)
        super().flatten_mapping(node)


# Line breaks for YAML that kubectl's line reader does not split documents on.
_OTHER_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def _yaml_documents(path: str, text: str) -> list[object]:
    try:
        return list(yaml.load_all(text, Loader=_UniqueKeyLoader))
    except _DuplicateKey as e:
        raise _Unsure(f"manifest {path} has the key {_short(str(e.key))!r} twice in one "
                      "mapping") from None
    except Exception:           # YAML errors, bad timestamps, deep nesting
        raise _Unsure(f"manifest {path} cannot be parsed") from None


def _kubectl_chunks(path: str, text: str) -> list[str]:
    """The manifest split the way kubectl splits it (apimachinery's YAMLReader): at every
    line that begins with `---`.  kubectl accepts only blanks or a comment after the three
    dashes (older versions accept anything); anything else is not interpreted."""
    chunks, lines = [], []
    for line in text.split("\n"):
        if line.startswith("---"):
            rest = line[3:].strip(" \t")
            if rest and not rest.startswith("#"):
                raise _Unsure(f"manifest {path}: line {_short(line)!r} starts with '---' "
                              "but is no plain document separator")
            chunks.append("\n".join(lines) + "\n")
            lines = []
        else:
            lines.append(line)
    chunks.append("\n".join(lines) + "\n")
    return chunks


def _manifest_documents(path: str, text: str) -> list[object]:
    """The documents kubectl reads from a manifest (empty ones left out).

    Split the way kubectl splits it, then each part parsed by PyYAML; and parsed whole by
    PyYAML too.  Unless both give the same documents, the manifest is not interpreted."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if _OTHER_BREAKS.search(text):
        raise _Unsure(f"manifest {path} has line breaks kubectl does not split documents on")
    split: list[object] = []
    for chunk in _kubectl_chunks(path, text):
        docs = _yaml_documents(path, chunk)
        if len(docs) > 1:       # kubectl would read the first only
            raise _Unsure(f"manifest {path}: YAML sees several documents where kubectl sees one")
        split += [d for d in docs if d is not None]
    try:
        whole = [d for d in _yaml_documents(path, text) if d is not None]
    except _Unsure:
        whole = None
    if whole is None or not _same(whole, split):   # e.g. `---#: x`: a separator for kubectl, a key for YAML
        raise _Unsure(f"kubectl and YAML split manifest {path} into different documents "
                      "(kubectl splits at every line that starts with '---')")
    return split


def _same(a: object, b: object) -> bool:
    """a == b for parsed YAML, each pair of nodes compared once: YAML aliases share nodes, and
    plain == walks a shared node again for every path to it (a 700-byte alias bomb: hours)."""
    seen: set[tuple[int, int]] = set()
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if (id(x), id(y)) in seen:
            continue
        seen.add((id(x), id(y)))
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            stack += [(x[k], y[k]) for k in x]
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return False
            stack += zip(x, y)
        elif type(x) is not type(y) or isinstance(x, (dict, list)) or x != y:
            return False
    return True


def _manifest_objects(c: _Cmd, path: str) -> tuple[list[_Ref], list[str]]:
    """One ref per object in the file; one reason per object (or file) we cannot use."""
    if path not in c.manifests:
        c.manifests[path] = _read_manifest(c, path)
    refs, bad = c.manifests[path]
    return list(refs), list(bad)


def _read_manifest(c: _Cmd, path: str) -> tuple[list[_Ref], list[str]]:
    try:
        objects = _flatten(_manifest_documents(path, _manifest_text(c, path)))
    except _Unsure as e:
        return [], [str(e)]
    refs, bad = [], []
    for obj in objects:
        try:
            refs.append(_manifest_ref(c, obj))
        except _Unsure as e:
            bad.append(f"{path}: {e}")
    if not refs and not bad:
        bad.append(f"no objects in manifest {path}")
    return refs, bad


def _flatten(docs: Iterable[object], depth: int = 0) -> list[object]:
    """Expand lists into their items.  kubectl takes any object with an `items` key for a list,
    whatever its kind (`kind: Namespace` with `items: [...]` acts on the items only)."""
    out: list[object] = []
    for doc in docs:
        if isinstance(doc, dict) and "items" in doc:
            items = doc["items"]
            if not isinstance(items, list):
                raise _Unsure("an object whose `items` is not a list")
            if depth >= 2:
                raise _Unsure("lists nested in lists")
            out += _flatten(items, depth + 1)
        else:
            out.append(doc)
    return out


def _manifest_ref(c: _Cmd, obj: object) -> _Ref:
    if not isinstance(obj, dict):
        raise _Unsure("document is not an object")
    kind = _manifest_kind(obj.get("kind"), obj.get("apiVersion"))
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str):
        raise _Unsure(f"{kind.name} without metadata.name")
    ns = meta.get("namespace")
    if ns is not None and not (isinstance(ns, str) and _NAMESPACE.fullmatch(ns)):
        raise _Unsure(f"{kind.name} {name} has an unusable namespace")
    return c.ref(kind, name, ns)


# --------------------------------------------------------------------------- handlers

def _change(c: _Cmd, verb: Verb, scope: _Scope, upsert: bool = False) -> list[Operation]:
    """Ops for a changing command: one per named object, one per selected kind."""
    if scope.named and (c.selecting or c.all_namespaces):
        raise _Unsure("names cannot be combined with a selector, --all or -A")
    ops = [c.change(verb, ref, upsert) for ref in scope.refs]
    ops += [c.unknown(why) for why in scope.bad]
    if scope.kinds:
        if not (c.selecting or c.command in _TYPE_MEANS_ALL):
            raise _Unsure("a resource type was given without a name")
        ops += [c.select(verb, kind) for kind in scope.kinds]
    if not ops:
        raise _Unsure("no object named")
    return ops


def _read(c: _Cmd, words: list[str]) -> list[Operation]:
    scope = _scope(c, words)
    ops = [c.read_op(ref) for ref in scope.refs] + c.list_reads(scope.kinds)
    if scope.bad or not ops:
        ops.append(c.broad_read("; ".join(scope.bad)))
    return ops


def _get(c: _Cmd) -> list[Operation]:
    if c.value("raw") is not None:
        return [c.broad_read("--raw request")]
    return _read(c, c.words)


def _cluster_read(c: _Cmd) -> list[Operation]:
    return [c.broad_read()]


def _logs(c: _Cmd) -> list[Operation]:
    head = c.head
    if not head:
        return c.list_reads([_POD])
    if len(head) > 2:
        raise _Unsure("too many arguments to logs")
    return [c.read_op(r) for r in _pod_refs(c, head[0])]


def _top(c: _Cmd) -> list[Operation]:
    kinds = {"pod": _POD, "pods": _POD, "po": _POD, "node": _NODE, "nodes": _NODE, "no": _NODE}
    kind = kinds.get(c.sub)
    if kind is None:
        raise _Unsure(f"unknown top subcommand {c.sub!r}")
    names = c.words[1:]
    return [c.read_op(c.ref(kind, n)) for n in names] or c.list_reads([kind])


def _events(c: _Cmd) -> list[Operation]:
    about = c.value("for")
    if about:
        return [c.read_op(r) for r in _type_name(c, about)]
    return c.list_reads([_Kind("event", False)])


def _delete(c: _Cmd) -> list[Operation]:
    if c.value("raw") is not None:
        raise _Unsure("--raw request")
    return _change(c, Verb.DELETE, _scope(c, c.words))


_CREATE_KINDS = {
    "namespace": "namespace", "ns": "namespace", "deployment": "deployment",
    "deploy": "deployment", "service": "service", "svc": "service", "secret": "secret",
    "configmap": "configmap", "cm": "configmap", "job": "job", "cronjob": "cronjob",
    "cj": "cronjob", "role": "role", "rolebinding": "rolebinding",
    "clusterrole": "clusterrole", "clusterrolebinding": "clusterrolebinding",
    "serviceaccount": "serviceaccount", "sa": "serviceaccount", "quota": "resourcequota",
    "resourcequota": "resourcequota", "priorityclass": "priorityclass",
    "pc": "priorityclass", "poddisruptionbudget": "poddisruptionbudget",
    "pdb": "poddisruptionbudget", "ingress": "ingress", "ing": "ingress",
}
_CREATE_SUBTYPES = {
    "service": frozenset({"clusterip", "nodeport", "loadbalancer", "externalname"}),
    "secret": frozenset({"generic", "tls", "docker-registry"}),
}


def _create(c: _Cmd) -> list[Operation]:
    if c.value("raw") is not None:
        raise _Unsure("--raw request")
    if c.filenames() or c.value("kustomize") is not None:
        if c.words:
            raise _Unsure("-f combined with a create subcommand")
        return _change(c, Verb.CREATE, _scope(c, []))
    return [c.change(Verb.CREATE, _created(c))]


def _created(c: _Cmd) -> _Ref:
    """`create KIND [SUBTYPE] NAME ...` -> the object it creates."""
    head = c.head
    if c.sub == "token":
        raise _Unsure("create token mints service-account credentials")
    kind = _CREATE_KINDS.get(c.sub)
    if kind is None:
        raise _Unsure(f"unknown create subcommand {c.sub!r}")
    args = head[1:]
    if kind in _CREATE_SUBTYPES:
        if not args or args[0] not in _CREATE_SUBTYPES[kind]:
            raise _Unsure(f"create {c.sub} needs one of {sorted(_CREATE_SUBTYPES[kind])}")
        args = args[1:]
    if len(args) != 1:
        raise _Unsure(f"create {c.sub} needs exactly one name")
    return c.ref(_builtin(kind), args[0])


def _apply(c: _Cmd) -> list[Operation]:
    if c.sub == "view-last-applied":
        return _read(c, c.words[1:])
    if c.sub in ("set-last-applied", "edit-last-applied"):
        return _change(c, Verb.UPDATE, _scope(c, c.words[1:]))
    if c.words:
        raise _Unsure(f"unexpected argument {c.words[0]!r} to apply")
    if c.on("prune") and not c.dry:
        raise _Unsure("--prune deletes every object missing from the manifests")
    if c.on("force"):   # deletes and re-creates objects whose update is refused
        return _change(c, Verb.REPLACE, _scope(c, []))
    return _change(c, Verb.UPDATE, _scope(c, []), upsert=True)


def _replace(c: _Cmd) -> list[Operation]:
    if c.value("raw") is not None:
        raise _Unsure("--raw request")
    if c.words:
        raise _Unsure(f"unexpected argument {c.words[0]!r} to replace")
    return _change(c, Verb.REPLACE if c.on("force") else Verb.UPDATE, _scope(c, []))


def _update(c: _Cmd) -> list[Operation]:
    """patch, edit, autoscale: UPDATE on the named objects."""
    return _change(c, Verb.UPDATE, _scope(c, c.words))


def _labels(c: _Cmd) -> list[Operation]:
    """label / annotate: resources, then `key=value` and `key-` arguments."""
    resources = _split_pairs(c.words, lambda w: "=" in w or w.endswith("-"))
    return _change(c, Verb.UPDATE, _scope(c, resources))


def _set(c: _Cmd) -> list[Operation]:
    rest = c.words[1:]
    if c.sub == "image":
        resources = _split_pairs(rest, lambda w: "=" in w)
    elif c.sub == "env":
        resources = _split_pairs(rest, lambda w: "=" in w or w.endswith("-"))
    elif c.sub in ("resources", "subject"):
        resources = rest
    elif c.sub in ("selector", "serviceaccount", "sa"):   # the last word is the new value
        if not rest:
            raise _Unsure(f"set {c.sub} needs a value")
        resources = rest[:-1]
    else:
        raise _Unsure(f"unknown set subcommand {c.sub!r}")
    return _change(c, Verb.UPDATE, _scope(c, resources))


def _scale(c: _Cmd) -> list[Operation]:
    return _change(c, Verb.SCALE, _scope(c, c.words))


_ROLLOUT = {"restart": Verb.RESTART, "undo": Verb.UPDATE, "pause": Verb.UPDATE,
            "resume": Verb.UPDATE, "status": Verb.READ, "history": Verb.READ}


def _rollout(c: _Cmd) -> list[Operation]:
    verb = _ROLLOUT.get(c.sub)
    if verb is None:
        raise _Unsure(f"unknown rollout subcommand {c.sub!r}")
    if verb is Verb.READ:
        return _read(c, c.words[1:])
    return _change(c, verb, _scope(c, c.words[1:]))


def _node_ref(c: _Cmd, word: str) -> _Ref:
    if "/" in word:
        refs = _type_name(c, word)
        if [r.kind for r in refs] != [_NODE]:
            raise _Unsure(f"{word!r} is not a node")
        return refs[0]
    return c.ref(_NODE, word)


def _nodes(c: _Cmd) -> list[Operation]:
    """drain / cordon / uncordon NODE...: UPDATE on the nodes."""
    refs = [_node_ref(c, w) for w in c.words]
    scope = _Scope(refs=refs, named=bool(refs), kinds=[] if refs else [_NODE])
    return _change(c, Verb.UPDATE, scope)


def _taint(c: _Cmd) -> list[Operation]:
    resources = _split_pairs(c.words, lambda w: ":" in w or "=" in w or w.endswith("-"))
    scope = _resource_args(c, resources)
    if any(r.kind != _NODE for r in scope.refs) or any(k != _NODE for k in scope.kinds):
        raise _Unsure("taint applies to nodes only")
    return _change(c, Verb.UPDATE, scope)


def _certificate(c: _Cmd) -> list[Operation]:
    if c.sub not in ("approve", "deny"):
        raise _Unsure(f"unknown certificate subcommand {c.sub!r}")
    scope = _scope(c, [])
    scope.refs = [c.ref(_CSR, n) for n in c.words[1:]] + scope.refs
    return _change(c, Verb.UPDATE, scope)


def _auth(c: _Cmd) -> list[Operation]:
    if c.sub in ("can-i", "whoami"):
        return [c.broad_read()]
    if c.sub == "reconcile":
        return _change(c, Verb.UPDATE, _scope(c, c.words[1:]), upsert=True)
    raise _Unsure(f"unknown auth subcommand {c.sub!r}")


def _expose(c: _Cmd) -> list[Operation]:
    """expose creates a service named --name (default: the exposed object's name)."""
    scope = _scope(c, c.words)
    if scope.bad or scope.kinds or len(scope.refs) != 1:
        raise _Unsure("expose needs exactly one named object")
    ref = scope.refs[0]
    service = c.ref(_SERVICE, c.value("name") or ref.name, ref.namespace)
    return [c.change(Verb.CREATE, service)]


def _run(c: _Cmd) -> list[Operation]:
    if not c.dry:
        raise _Unsure("kubectl run starts an arbitrary container")
    if not c.head:
        raise _Unsure("run needs a name")
    return [c.change(Verb.CREATE, c.ref(_POD, c.head[0]))]


def _pod_refs(c: _Cmd, word: str) -> list[_Ref]:
    """`POD` or `TYPE/NAME` (exec, logs, attach, port-forward, debug)."""
    return _type_name(c, word) if "/" in word else [c.ref(_POD, word)]


def _exec_op(c: _Cmd, ref: _Ref) -> Operation:
    return Operation(Verb.EXEC, target=c.alias(ref), note=c.note(_describe(ref)))


def _exec(c: _Cmd) -> list[Operation]:
    """exec / attach / port-forward: arbitrary effects inside the named object."""
    head = c.head
    if not head:
        raise _Unsure(f"{c.command} needs a pod")
    if c.command == "attach" and len(head) == 2:      # attach TYPE NAME
        refs = _resource_args(c, head).refs
    else:
        refs = _pod_refs(c, head[0])
    if len(refs) != 1:
        raise _Unsure(f"{c.command} needs one object")
    return [_exec_op(c, refs[0])]


def _debug(c: _Cmd) -> list[Operation]:
    """debug: every word before `--` (all words without it) names a target."""
    if not c.head:
        raise _Unsure("debug needs a target")
    refs = [r for word in c.head for r in _pod_refs(c, word)]
    return [_exec_op(c, ref) for ref in refs]


def _cp(c: _Cmd) -> list[Operation]:
    """cp: exactly one of the two paths is `[NAMESPACE/]POD:PATH`."""
    if len(c.words) != 2:
        raise _Unsure("cp needs a source and a destination")
    remote = [ref for ref in (_remote_spec(c, w) for w in c.words) if ref is not None]
    if len(remote) != 1:
        raise _Unsure("cp needs exactly one pod path")
    return [_exec_op(c, remote[0])]


def _remote_spec(c: _Cmd, word: str) -> _Ref | None:
    pod, colon, _ = word.partition(":")
    if not colon:
        return None
    pieces = pod.split("/")
    if len(pieces) == 1:
        return c.ref(_POD, pieces[0])
    if len(pieces) == 2 and _NAMESPACE.fullmatch(pieces[0]):
        return c.ref(_POD, pieces[1], pieces[0])
    raise _Unsure(f"unusable pod path {word!r}")


def _refuse(reason: str) -> Callable[[_Cmd], list[Operation]]:
    def handler(c: _Cmd) -> list[Operation]:
        raise _Unsure(reason)
    return handler


_HANDLERS: dict[str, Callable[[_Cmd], list[Operation]]] = {
    "get": _get, "describe": _get, "wait": _get, "diff": _get,
    "logs": _logs, "top": _top, "events": _events,
    "explain": _cluster_read, "api-resources": _cluster_read,
    "api-versions": _cluster_read, "version": _cluster_read, "cluster-info": _cluster_read,
    "delete": _delete, "create": _create, "apply": _apply, "replace": _replace,
    "patch": _update, "edit": _update, "autoscale": _update,
    "label": _labels, "annotate": _labels, "set": _set, "scale": _scale,
    "rollout": _rollout, "drain": _nodes, "cordon": _nodes, "uncordon": _nodes,
    "taint": _taint, "certificate": _certificate, "auth": _auth, "expose": _expose,
    "run": _run, "exec": _exec, "attach": _exec, "port-forward": _exec, "debug": _debug,
    "cp": _cp,
    "proxy": _refuse("kubectl proxy opens the whole API to local clients"),
    "alpha": _refuse("alpha commands are not interpreted"),
    "plugin": _refuse("kubectl plugin subcommand"),
}
_LOCAL_COMMANDS = frozenset({"config", "kustomize", "completion", "help", "options", "kuberc"})
_READ_COMMANDS = frozenset({"get", "describe", "wait", "diff", "logs", "top", "events",
                            "explain", "api-resources", "api-versions", "version",
                            "cluster-info"})
_READ_SUBCOMMANDS = frozenset({("rollout", "status"), ("rollout", "history"),
                               ("auth", "can-i"), ("auth", "whoami"),
                               ("apply", "view-last-applied")})
_EXEC_COMMANDS = frozenset({"exec", "attach", "port-forward", "debug", "cp", "proxy",
                            "alpha", "plugin"})
_SELECTING = frozenset({"get", "describe", "wait", "logs", "top", "delete", "label",
                        "annotate", "set", "scale", "rollout", "drain", "cordon",
                        "uncordon", "taint"})
# Commands for which a bare type (`rollout restart deployment`) means every object of it.
_TYPE_MEANS_ALL = frozenset({"rollout", "edit"})
_SUBCOMMANDED = frozenset({"rollout", "set", "auth", "certificate", "top", "apply"})


# --------------------------------------------------------------------------- credentials

# Output formats that print no object's data; any other (-o yaml, json, jsonpath=...) does.
_SUMMARY_OUTPUTS = frozenset({"", "wide", "name"})
# Flags that name local files kubectl reads and may print (from a Secret it prints).
_FILE_FLAGS = frozenset({"filename", "from-file", "from-env-file", "patch-file", "kustomize",
                         "output", "template"})
_LIST_FILE_FLAGS = ("filename", "from-file", "from-env-file")    # pflag StringSlice: CSV
_UNREDACTED = frozenset({"--raw", "--flatten"})     # config view: keys and tokens in full


def _credential_exposure(c: _Cmd) -> str:
    """Why the command would show the agent a credential, or ""."""
    if c.command == "create" and c.sub == "token":
        return "prints credentials (a new service-account token)"
    if c.on("show-secrets") or c.on("resolve"):       # diff --show-secrets, set env --list --resolve
        return "prints credentials (Secret data: --show-secrets/--resolve)"
    raw = c.value("raw")
    if raw is not None and ("secret" in unquote(raw).lower() or "%" in raw):   # %73ecrets is secrets too
        return f"prints credentials (--raw {raw})"
    if _prints_objects(c) and _may_print_secrets(c):
        return "prints credentials (Secret data)"
    local_paths = [v for name in _FILE_FLAGS for v in c.flags.get(name, [])]
    for name in _LIST_FILE_FLAGS:             # `--from-file=x,.env`, `--from-file=key=.netrc`
        items = c.csv(name)
        local_paths += items + [item.partition("=")[2] for item in items if "=" in item]
    if c.command == "cp":
        local_paths += c.words          # kubectl cp ~/.aws/credentials pod:/tmp, or a pod's token out
    return credentials.exposed_by_any(local_paths)


def _prints_objects(c: _Cmd) -> bool:
    output = (c.value("output") or "").partition("=")[0]
    return (output not in _SUMMARY_OUTPUTS or c.value("template") is not None
            or (c.command, c.sub) == ("apply", "view-last-applied"))


def _may_print_secrets(c: _Cmd) -> bool:
    """Secrets may be among the objects: named by type (`secret`, `secrets/x`, `--from=secret/x`),
    in a manifest, or in one the gateway cannot read."""
    words = c.head + c.flags.get("from", [])
    if any(_is_secret_type(word) for word in words) or c.value("kustomize") is not None:
        return True
    for path in c.filenames():
        refs, bad = _manifest_objects(c, path)
        if bad or any(ref.kind.name == "secret" for ref in refs):
            return True
    return False


def _is_secret_type(word: str) -> bool:
    types = (part.partition("/")[0] for part in word.split(","))
    return any(t.lower().partition(".")[0] in ("secret", "secrets") for t in types)


def _kubeconfig_exposure(argv: list[str]) -> str:
    """`kubectl config view --raw` (or --flatten) prints the kubeconfig's keys and tokens."""
    words = argv[1:]
    if "view" not in words:
        return ""
    for word in words:
        name, eq, value = word.partition("=")
        if name in _UNREDACTED and (not eq or value not in _FALSE):
            return f"prints credentials (config view {name}: keys and tokens unredacted)"
    return ""


# --------------------------------------------------------------------------- local settings

@dataclass(frozen=True)
class _Settings:
    """A local command's subcommands: those that only show the settings, those that rewrite them."""
    shows: frozenset[str]
    changes: frozenset[str]
    why: str                    # what a change does to the commands that follow it


# A rewritten kubeconfig changes what later commands mean: after `config set-context staging
# --cluster prod-cluster`, `kubectl --context staging delete ...` deletes in prod.
_SETTINGS = {
    "config": _Settings(
        shows=frozenset({"view", "get-contexts", "current-context", "get-clusters", "get-users"}),
        changes=frozenset({"set-context", "set-cluster", "set-credentials", "use-context", "use",
                           "delete-context", "delete-cluster", "delete-user", "rename-context",
                           "set", "unset"}),
        why="changes kubeconfig: later commands would reach another cluster or namespace"),
    "kuberc": _Settings(
        shows=frozenset({"view"}), changes=frozenset({"set"}),
        why="changes kubectl preferences (kuberc): later commands would run with other defaults"),
}


def _subcommand(tokens: list[str], first: _Scan) -> str:
    """The word after the command word; flags may stand between them (`config --kubeconfig F
    use-context x`).  "" when there is none."""
    if first.dash is not None:                       # `kubectl -- config ...`: all words
        return first.words[1] if len(first.words) > 1 else ""
    after = _scan(tokens[first.stop:], first_word=True)
    return after.words[0] if after.words else ""


def _settings_change(argv: list[str]) -> str:
    """Why a local command rewrites the kubeconfig (or kuberc), or "" when it does not."""
    first = _scan(argv[1:], first_word=True)
    settings = _SETTINGS.get(first.words[0])
    if settings is None:
        return ""
    sub = _subcommand(argv[1:], first)
    if not sub or sub in settings.shows:             # no subcommand: kubectl prints help
        return ""
    if sub in settings.changes:
        return settings.why
    return f"unknown {first.words[0]} subcommand {sub!r}: it may rewrite the kubeconfig"


# --------------------------------------------------------------------------- local effects

def _global_problem(argv: list[str], command: str) -> str:
    """Why a global flag makes any kubectl command more than it says, or "".  Looked for in
    every word (a flag's value, the words after `--` too): a false alarm is only opaque."""
    for word in argv[1:]:
        name, eq, value = word.partition("=")
        if name == "--profile" and not (eq and value == "none") and command != "debug":
            # (debug has a --profile of its own, and debug is opaque anyway)
            return "--profile writes a profile file (--profile-output) when kubectl exits"
        if name == "--kuberc":
            return "--kuberc loads other defaults for kubectl's flags"
    return ""


# What the flags of `kubectl kustomize` would do beyond printing the built manifests.
_KUSTOMIZE_HARMLESS = frozenset({"enable-managedby-label", "reorder", "help"}) | _GLOBAL_FLAGS
_KUSTOMIZE_WRITES = frozenset({"output"})
_KUSTOMIZE_ROOT_ONLY = "LoadRestrictionsRootOnly"


def _kustomize_problem(argv: list[str]) -> str:
    """Why `kubectl kustomize ...` does more than print the kustomization it builds, or "".

    --enable-helm/--helm-command run a program, --enable-alpha-plugins/--enable-exec run
    plugins and functions, -o writes a file, --load-restrictor lets it read files outside the
    kustomization.  Every flag not known to be harmless is refused."""
    scan = _scan(argv[1:], "kustomize")
    for name, values in scan.flags.items():
        if name == "load-restrictor":
            if any(v != _KUSTOMIZE_ROOT_ONLY for v in values):
                return "kustomize --load-restrictor lets it read files outside the kustomization"
        elif name in _KUSTOMIZE_WRITES:
            return f"kustomize --{name} writes a file"
        elif name in _KUSTOMIZE_FLAGS and name not in _KUSTOMIZE_HARMLESS:
            return f"kustomize --{name} may run programs (helm, plugins, functions)"
        elif name not in _KUSTOMIZE_HARMLESS:
            return f"kustomize --{name} is no flag known to be harmless"
    exposed = credentials.exposed_by_any(scan.words[1:])
    if exposed:
        return f"kustomize {exposed}"
    tree = next((w for w in scan.words[1:] if credentials.holds_credentials(w)), "")
    return f"kustomize over {tree}, a tree that holds credentials (a secretGenerator prints them)" if tree else ""


def _writes_files(c: _Cmd) -> str:
    """Why the command writes local files, or ""."""
    out = c.value("output-directory")         # cluster-info dump
    if out not in (None, "", "-"):
        return f"writes files into {out} (--output-directory)"
    return ""


# --------------------------------------------------------------------------- dispatch

def _dry_reason(c: _Cmd) -> str:
    """Why a changing command changes nothing (dry run, --local, --list), or ""."""
    if c.command in _EXEC_COMMANDS:
        return ""
    dry = c.value("dry-run")
    if dry is not None and dry not in _DRY_VALUES and dry != "none":
        raise _Unsure(f"--dry-run={dry!r} is not client, server or none")
    if dry in _DRY_VALUES:
        return "dry run"
    for flag in ("local", "list"):   # kubectl rejects these where they do not exist
        if c.on(flag):
            return f"--{flag}"
    return ""


def _is_local(c: _Cmd) -> bool:
    return ((c.command == "version" and c.on("client"))
            or (c.command == "plugin" and c.sub == "list"))


def _context_problem(c: _Cmd) -> str:
    """Why the cluster is unknown, or "" when --context names it."""
    for flag in ("server", "cluster", "kubeconfig"):      # another kubeconfig can rename any cluster
        if c.value(flag) is not None:
            return f"--{flag} overrides the cluster of the context"
    ctx = c.value("context")
    if ctx is None:
        return "no --context"
    if not ctx or " " in ctx or not ctx.isprintable():
        return "unusable --context"
    return ""


def _local_read(text: str) -> Operation:
    return Operation(Verb.READ, note=f"{text} (local only: touches no cluster)")


def _parse(argv: list[str], files: FileReader | None, text: str) -> _Cmd | None:
    """argv -> the command, or None when it touches only local files (config, help)."""
    if argv[0].rsplit("/", 1)[-1] != "kubectl":
        raise _Unsure("not a kubectl command line")
    first = _scan(argv[1:], first_word=True)
    problem = _global_problem(argv, first.words[0] if first.words else "")
    if problem:
        raise _Unsure(problem)
    if not first.words:
        raise _Unsure("no kubectl subcommand")
    if first.words[0] in _LOCAL_COMMANDS:
        problem = _kustomize_problem(argv) if first.words[0] == "kustomize" else ""
        if problem:
            raise _Unsure(problem)
        return None
    command = first.words[0]
    if command not in _HANDLERS:
        raise _Unsure(f"unknown kubectl subcommand or plugin {command!r}")
    scan = _scan(argv[1:], command)
    if not scan.words or scan.words[0] != command:
        raise _Unsure("the command word is ambiguous")
    dash = None if scan.dash is None else scan.dash - 1
    return _Cmd(command, scan.words[1:], dash, scan.flags, files, text)


def _interpret(argv: list[str], files: FileReader | None, text: str) -> list[Operation]:
    c = _parse(argv, files, text)
    exposed = _kubeconfig_exposure(argv) if c is None else _credential_exposure(c)
    if exposed:
        return [opaque(f"{text} ({exposed})", destructive=c is not None and c.destructive)]
    changed = _settings_change(argv) if c is None else _writes_files(c)
    if changed:
        return [opaque(f"{text} ({changed})")]
    if c is None or _is_local(c):
        return [_local_read(text)]
    try:
        return _operations(c)
    except _Unsure as e:
        return [opaque(f"{text} ({e})", destructive=c.destructive)]


def _operations(c: _Cmd) -> list[Operation]:
    c.dry = _dry_reason(c)
    reads = (c.command in _READ_COMMANDS or (c.command, c.sub) in _READ_SUBCOMMANDS
             or bool(c.dry))
    problem = _context_problem(c)
    if problem:
        if not reads:
            raise _Unsure(problem)
        return [Operation(Verb.READ, target=f"<{problem}: {_short(c.text)}>",
                          note=f"{c.text}: {problem}, so the cluster is unknown; pass --context")]
    c.ctx = c.value("context") or ""
    try:
        return _dedupe(_HANDLERS[c.command](c))
    except _Unsure as e:
        if reads:               # a read touches nothing, whatever we could not follow
            return [c.broad_read(str(e))]
        raise


def _dedupe(ops: list[Operation]) -> list[Operation]:
    seen, out = set(), []
    for op in ops:
        key = (op.verb, op.target, repr(op.selector), op.fallback, op.upsert)
        if key not in seen:
            seen.add(key)
            out.append(op)
    return out


def _looks_destructive(argv: list[str]) -> bool:
    """Best guess for a command we could not parse: could it delete something?"""
    return any(a == "delete" or a.startswith(("--prune", "--force")) for a in argv[1:])


def interpret_kubectl(argv: list[str], files: FileReader | None = None) -> list[Operation]:
    """kubectl argv -> Operations; anything uncertain becomes ``opaque``."""
    if not argv:
        raise ProposalError("argv is empty", field="argv")
    if not all(isinstance(a, str) for a in argv):
        return [opaque(f"malformed kubectl argv {argv!r}", destructive=True)]
    text = shlex.join(["kubectl", *argv[1:]])
    try:
        return _interpret(argv, files, text)
    except _Unsure as e:
        return [opaque(f"{text} ({e})", destructive=_looks_destructive(argv))]
    except Exception as e:      # last-resort net: odd input never crashes the gateway
        return [opaque(f"{text} (not interpreted: {type(e).__name__})",
                       destructive=_looks_destructive(argv))]
