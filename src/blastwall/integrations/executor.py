"""Running an approved command: argv only, an allowlisted environment, a timeout, bounded output.

The agent never chooses the environment: a child sees only the names listed here
(plus any the operator passes with ``--pass-env``), and never a name that changes
how a shell, the dynamic loader or an interpreter starts (``BASH_ENV``, ``LD_PRELOAD``, ...).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from blastwall.errors import ProposalError

BASE_NAMES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME", "KUBECONFIG")
CLOUD_NAMES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CA_BUNDLE",
    "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GOOGLE_PROJECT", "GOOGLE_REGION", "GOOGLE_ZONE",
    "CLOUDSDK_CONFIG", "CLOUDSDK_CORE_PROJECT",
    "ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID", "ARM_USE_MSI",
    "ARM_ENVIRONMENT", "AZURE_CONFIG_DIR",
)
TERRAFORM_NAMES = ("TF_DATA_DIR", "TF_WORKSPACE", "TF_PLUGIN_CACHE_DIR", "TF_CLI_CONFIG_FILE",
                   "TF_LOG", "TF_LOG_PATH", "TF_REGISTRY_CLIENT_TIMEOUT")
ALLOWED = frozenset(BASE_NAMES + CLOUD_NAMES + TERRAFORM_NAMES)
FIXED = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}          # never prompt, never wait for a human
# Names that change how a program starts; refused even when the operator asks to pass them.
NEVER = frozenset({"BASH_ENV", "ENV", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "IFS", "CDPATH",
                   "GLOBIGNORE", "PS4", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB",
                   "NODE_OPTIONS", "NODE_PATH", "GCONV_PATH", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS",
                   "MALLOC_CHECK_", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "TF_CLI_ARGS"})
NEVER_PREFIXES = ("LD_", "DYLD_", "PYTHON", "BASH_FUNC_", "TF_CLI_ARGS_")

MAX_ARGS, MAX_ARG_CHARS = 4096, 100_000
SECRET_MARKS = ("SECRET", "TOKEN", "PASSWORD", "ACCESS_KEY")


def refused_name(name: str) -> bool:
    return name in NEVER or name.startswith(NEVER_PREFIXES)


def allowlisted_env(source: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> dict[str, str]:
    """The environment a child runs with: listed names only, no shell functions, nothing loader-related."""
    source = os.environ if source is None else source
    extra = set(extra)
    bad = sorted(n for n in extra if refused_name(n))
    if bad:
        raise ValueError(f"refusing to pass {', '.join(bad)} to commands: it changes how programs start")
    env = {k: v for k, v in source.items()
           if (k in ALLOWED or k in extra) and not v.startswith("()") and "\x00" not in v}
    env.setdefault("PATH", os.defpath)
    return {**env, **FIXED}


def check_argv(argv: object, field: str = "argv") -> list[str]:
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ProposalError("must be a non-empty list of strings (argv, never a shell string)", field=field)
    if len(argv) > MAX_ARGS or any(len(a) > MAX_ARG_CHARS or "\x00" in a for a in argv):
        raise ProposalError("too many or too long arguments, or a NUL character", field=field)
    if not argv[0]:
        raise ProposalError("the program name is empty", field=field)
    return list(argv)


@dataclass
class Outcome:
    argv: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    truncated: bool = False
    timed_out: bool = False
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict:
        return asdict(self)

    def report(self, limit: int = 4096) -> dict:
        """What goes to the audit log: the same, with output cut shorter."""
        return {**self.to_dict(), "stdout": self.stdout[-limit:], "stderr": self.stderr[-limit:],
                "truncated": self.truncated or len(self.stdout) > limit or len(self.stderr) > limit}


@dataclass(frozen=True)
class Runner:
    env: Mapping[str, str]
    timeout: float = 300.0
    max_output: int = 64 * 1024
    cwd: str | None = None

    def which(self, program: str) -> str | None:
        if "/" in program:
            return program if Path(program).is_file() else None
        return shutil.which(program, path=self.env.get("PATH", os.defpath))

    def redact(self, text: str) -> str:
        """Credentials in the gateway's environment never reach the agent through a command's output."""
        for name, value in self.env.items():
            if len(value) >= 4 and any(mark in name for mark in SECRET_MARKS):
                text = text.replace(value, f"[{name} redacted]")
        return text

    def run(self, argv: list[str]) -> Outcome:
        argv = check_argv(argv)
        program = self.which(argv[0])
        if program is None:
            return Outcome(argv, None, "", "", error=f"{argv[0]}: not found on the executor's PATH")
        started = time.monotonic()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run([program, *argv[1:]], env=dict(self.env), stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=err, timeout=self.timeout, cwd=self.cwd, shell=False)
                code, timed_out = proc.returncode, False
            except subprocess.TimeoutExpired:
                code, timed_out = None, True
            except OSError as exc:
                return Outcome(argv, None, "", "", error=f"cannot run {argv[0]}: {exc.strerror or exc}")
            stdout, cut_out = _head(out, self.max_output)
            stderr, cut_err = _head(err, self.max_output)
        stdout, stderr = self.redact(stdout), self.redact(stderr)
        return Outcome(argv, code, stdout, stderr, cut_out or cut_err, timed_out, round(time.monotonic() - started, 3),
                       f"timed out after {self.timeout:g}s" if timed_out else None)


def _head(f, limit: int) -> tuple[str, bool]:
    f.seek(0)
    data = f.read(limit + 1)
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit
