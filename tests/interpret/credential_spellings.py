"""Hypothesis strategies: the many ways to name a credential, and commands that would show it."""
from __future__ import annotations

import shlex

from hypothesis import strategies as st

HOMES = ["~", "$HOME", "${HOME}", "/root", "/home/bob", "~root", "/Users/alice", "/proc/1/root/root",
         "", ".", "..", "../.."]
IN_HOME = [".aws/credentials", ".aws/config", ".aws/*", ".a*/credentials", ".kube/config",
           ".ssh/id_rsa", ".ssh/id_ed25519", ".ssh/id_*", ".ssh/*", ".config/gcloud/credentials.db",
           ".config/gcloud/application_default_credentials.json", ".docker/config.json",
           ".azure/accessTokens.json", ".env", ".env.production", ".netrc", ".git-credentials",
           ".{aws,kube}/config", "infra/terraform.tfstate"]
ANYWHERE = ["/proc/self/environ", "/proc/1/environ", "/proc/thread-self/environ", "/proc/*/environ",
            "/proc/self/task/7/environ", "/var/run/secrets/kubernetes.io/serviceaccount/token",
            "/etc/kubernetes/admin.conf"]
# `{}` is the path; each reads (or copies) what it names.
READERS = ["cat {}", "head -n 5 {}", "tail {}", "grep -h x {}", "grep -r secret {}", "less {}",
           "more {}", "tac {}", "sort {}", "uniq {}", "cut -c1-80 {}", "wc -c {}", "jq . {}", "yq . {}",
           "diff /dev/null {}", "column -t {}", "file {}", "cd {}", "base64 {}", "xxd {}", "od -c {}",
           "strings {}", "cp {} /tmp/x", "git diff --no-index /dev/null {}", "grep -f {} README.md",
           "cat < {}", "date -f {}"]
WRAPPERS = ["{c}", "sudo {c}", "sudo -u root {c}", "env A=1 {c}", "timeout 5 {c}", "nice -n 5 {c}",
            "nohup {c}", "command {c}", "bash -c {q}", "sh -c {q}", "{c} | wc -l", "true && {c}",
            "ls; {c}", "( {c} )", "{{ {c}; }}", "echo $( {c} )", "bash -c {q} 2>/dev/null"]


def _mangle(draw, path: str) -> str:
    """Redundant slashes, `./` and `x/../` segments: the same file, spelt differently."""
    parts = path.split("/")
    out = [parts[0]]
    for part in parts[1:]:
        out.append(draw(st.sampled_from(["", "", "/", "./", "x/../"])) + part)
    return "/".join(out)


@st.composite
def credential_paths(draw) -> str:
    if draw(st.booleans()):
        home = draw(st.sampled_from(HOMES))
        path = f"{home}/{draw(st.sampled_from(IN_HOME))}" if home else draw(st.sampled_from(IN_HOME))
    else:
        path = draw(st.sampled_from(ANYWHERE))
    return _mangle(draw, path)


def _quote_piece(draw, piece: str) -> str:
    """Quote one literal piece the way bash reads it back unchanged."""
    how = draw(st.sampled_from(["plain", "single", "double", "backslash"]))
    if how == "single":
        return f"'{piece}'"
    if how == "double":
        return f'"{piece}"'
    if how == "backslash":
        return "".join("\\" + ch if ch.isalnum() else ch for ch in piece)
    return piece


@st.composite
def quoted(draw, path: str) -> str:
    """The path as a shell word, its literal components quoted in random ways (expansions,
    globs and braces stay unquoted so that bash still expands them)."""
    words = []
    for component in path.split("/"):
        if not component or any(ch in component for ch in "$~*?[{") or component in (".", ".."):
            words.append(component)
        else:
            words.append(_quote_piece(draw, component))
    return "/".join(words)


@st.composite
def credential_commands(draw) -> str:
    """A shell command line that reads a credential file, through wrappers and quoting."""
    reader = draw(st.sampled_from(READERS))
    command = reader.format(draw(quoted(draw(credential_paths()))))
    wrapper = draw(st.sampled_from(WRAPPERS))
    return wrapper.format(c=command, q=shlex.quote(command))


ARGV_WRAPPERS = [[], ["sudo"], ["sudo", "-u", "root"], ["env", "A=1"], ["timeout", "5"], ["nice", "-n", "5"],
                 ["nohup"], ["command"], ["sudo", "env", "timeout", "9"]]


@st.composite
def credential_argvs(draw) -> list[str]:
    """An argv (no shell: run_command) that reads a credential file, behind argv wrappers."""
    reader = shlex.split(draw(st.sampled_from(READERS)).replace("{}", "PATH").replace("<", ""))
    path = draw(credential_paths())
    argv = [path if word == "PATH" else word for word in reader]
    if draw(st.booleans()):
        return [*draw(st.sampled_from(ARGV_WRAPPERS)), *argv]
    return [draw(st.sampled_from(["bash", "sh"])), "-c", shlex.join(argv)]


SECRET_VARIABLES = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GITHUB_TOKEN", "VAULT_TOKEN",
                    "ARM_CLIENT_SECRET", "DB_PASSWORD", "GOOGLE_APPLICATION_CREDENTIALS", "KUBECONFIG",
                    "OPENAI_API_KEY", "TF_VAR_db_password"]


@st.composite
def secret_variable_commands(draw) -> str:
    name = draw(st.sampled_from(SECRET_VARIABLES))
    word = draw(st.sampled_from(["${n}", "${{{n}}}", '"${n}"', '"x=${n}"', "${n}/x"])).format(n=name)
    form = draw(st.sampled_from(["echo {w}", "printf '%s\\n' {w}", "cat {w}", "X={w}; echo ok",
                                 "echo ok | grep {w}", "for v in {w}; do echo ok; done", "cat <<< {w}"]))
    return form.format(w=word)
