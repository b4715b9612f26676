"""Shell strings -> Operations.

The string is parsed with bashlex; every simple command in lists, pipelines and
compound commands is interpreted as argv (``argv.interpret_words``), in order.
Anything the gateway cannot see through (command substitution, eval, heredocs,
expanded command words, unparseable text ...) becomes ``opaque``.  So does what
would show the agent a credential, in arguments (``argv``) and in the words only
the shell sees: ``< ~/.aws/credentials``, ``F=~/.ssh/id_rsa``, ``for f in ~/.ssh/*``.
Never raises.
"""
from __future__ import annotations

import re

import bashlex

from blastwall.core.interpret import credentials
from blastwall.core.interpret.argv import (
    MAX_SHELL_DEPTH, FileReader, absolute_paths_only, command_name, interpret_words,
    is_control_char, is_dangerous_variable, locate_command, looks_destructive,
    tolerates_expanded_arguments)
from blastwall.core.model import Operation, Verb, opaque

MAX_LENGTH = 100_000

_SAFE_SINKS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2"})
_OUTPUT_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
_INPUT_REDIRECTS = frozenset({"<", "<<<", "<&", "<>"})
_HEREDOCS = frozenset({"<<", "<<-"})
_STDIN_NAMES = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
_CHANGES_DIRECTORY = frozenset({"cd", "pushd", "popd"})
_SEPARATORS = frozenset({"operator", "pipe", "reservedword"})
_SUBSTITUTIONS = frozenset({"commandsubstitution", "processsubstitution"})
# $NAME, ${NAME}, $1, $@ ...: anything else (${x:-$(cmd)}, ${a[i]}, ${x:i}, ${!x}, $'..')
# can run code through nested substitution or arithmetic evaluation.
_SIMPLE_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpret_shell(command: str, files: FileReader | None = None) -> list[Operation]:
    return interpret_script(command, files, depth=0)


def interpret_script(command: str, files: FileReader | None, depth: int,
                     strict: bool = False) -> list[Operation]:
    """interpret_shell for nested scripts (``bash -c``); ``strict``: any expansion is opaque."""
    try:
        return _interpret(command, files, depth, strict)
    except Exception as exc:                 # never raise: what we cannot read is opaque
        return [_opaque_text(command, f"cannot interpret shell ({type(exc).__name__})")]


def _opaque_text(command: object, why: str) -> Operation:
    text = command if isinstance(command, str) else repr(command)
    shown = text if len(text) <= 2_000 else text[:2_000] + f"... ({len(text)} characters)"
    return opaque(f"{shown} [{why}]", destructive=looks_destructive(text))


def _interpret(command: str, files: FileReader | None, depth: int,
               strict: bool) -> list[Operation]:
    problem = _refuse_before_parsing(command, depth)
    if problem:
        return [_opaque_text(command, problem)]
    source, trees = _parse(command)
    walker = _Walker(source, files, depth, strict)
    ops = [op for tree in trees for op in walker.walk(tree)]
    return ops or [_opaque_text(command, "no command")]


def _refuse_before_parsing(command: object, depth: int) -> str:
    if not isinstance(command, str):
        return "shell command is not a string"
    if depth > MAX_SHELL_DEPTH:
        return f"shells nested deeper than {MAX_SHELL_DEPTH}"
    if len(command) > MAX_LENGTH:
        return f"shell command longer than {MAX_LENGTH} characters"
    if not command.strip():
        return "empty shell command"
    if any(is_control_char(ch) for ch in command if ch not in "\n\t"):
        return "shell command contains a control character"
    return ""


def _parse(command: str) -> tuple[str, list]:
    """bashlex trees and the text they index; retried once with ``time`` unreserved."""
    try:
        return command, bashlex.parse(command)
    except NotImplementedError as exc:
        escaped = _unreserve_time(command)
        if "time" not in str(exc) or escaped == command:
            raise
        return escaped, bashlex.parse(escaped)


def _unreserve_time(text: str) -> str:
    """Write each unquoted word ``time`` as ``\\time``: same literal, same commands run,
    but no longer the reserved word bashlex cannot parse (argv unwraps ``time`` instead)."""
    out = []
    for i, ch, state in _quote_states(text):
        if not state and text.startswith("time", i) and _word_boundary(text, i, i + 4):
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _quote_states(text: str):
    """(index, char, state) per char; state: '' unquoted, a quote char inside (or being)
    that quote, '\\' for a backslash escape and the char it escapes."""
    quote, i = "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'":
            yield from ((j, text[j], "\\") for j in range(i, min(i + 2, len(text))))
            i += 2
            continue
        if quote:
            yield i, ch, quote
            quote = "" if ch == quote else quote
        else:
            quote = ch if ch in "'\"" else ""
            yield i, ch, quote
        i += 1


def _word_boundary(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before in " \t\n;&|(){}!" and after in " \t\n;&|)"


# --- what bash would expand (bashlex keeps these literal) --------------------------------

def has_unquoted_pattern(raw: str) -> bool:
    """``*``, ``?``, ``[..]`` or ``{..}`` outside quotes: bash would expand the word."""
    unquoted = "".join(ch for _, ch, state in _quote_states(raw) if not state)
    if any(ch in "*?" for ch in unquoted):
        return True
    return _opens_and_closes(unquoted, "[", "]") or _opens_and_closes(unquoted, "{", "}")


def has_active_substitution(raw: str) -> bool:
    """``$(``, ``$[`` or a backquote outside single quotes: bash runs something there."""
    active = "".join(ch for _, ch, state in _quote_states(raw) if state in ("", '"'))
    return "`" in active or "$(" in active or "$[" in active


def remove_quotes(raw: str) -> str | None:
    """Bash quote removal of a word without expansions; None if a quote is left open.

    bashlex's own ``word`` is wrong for mixed quoting (``'it'\\''s'``), so literal
    words are rebuilt from their source text.
    """
    out, quote, i = [], "", 0
    while i < len(raw):
        ch, nxt = raw[i], raw[i + 1:i + 2]
        if quote == "'":
            quote = "" if ch == "'" else quote
            out.append("" if ch == "'" else ch)
        elif ch == "\\" and (not quote or nxt in ('$', '`', '"', "\\", "\n")):
            if not nxt:
                return None
            out.append("" if nxt == "\n" else nxt)
            i += 1
        elif ch == quote or (not quote and ch in "'\""):
            quote = "" if ch == quote else ch
        else:
            out.append(ch)
        i += 1
    return None if quote else "".join(out)


def _opens_and_closes(chars: str, opener: str, closer: str) -> bool:
    at = chars.find(opener)
    return at >= 0 and closer in chars[at + 1:]


# --- the tree walk -------------------------------------------------------------------------

def _read_noop(what: str) -> Operation:
    return Operation(Verb.READ, note=f"{what}: no effect")


class _Walker:
    def __init__(self, source: str, files: FileReader | None, depth: int, strict: bool):
        self.source, self.files, self.depth, self.strict = source, files, depth, strict

    def text(self, node) -> str:
        start, end = node.pos
        return self.source[start:end]

    def opaque(self, node, why: str, extra: str = "") -> Operation:
        text = self.text(node)
        return opaque(f"{text} [{why}]", destructive=looks_destructive(f"{text}\n{extra}"))

    def walk(self, node) -> list[Operation]:
        """Operations of one node, in the order the shell would run them."""
        kind = node.kind
        if kind in ("list", "pipeline"):            # skip `;` `&&` `|` and the `!` of `! cmd`
            return [op for part in node.parts if part.kind not in _SEPARATORS
                    for op in self.walk(part)]
        if kind == "command":
            return self._command(node)
        if kind == "compound":
            return self._compound(node)
        if kind in ("if", "for", "while", "until"):
            return self._control(node)
        if kind == "function":
            return [self.opaque(node, "defines a shell function")]
        return [self.opaque(node, f"unsupported shell construct {kind}")]

    def _compound(self, node) -> list[Operation]:
        """Subshell ``( ... )`` and group ``{ ...; }``, or the wrapper of if/for/while."""
        if self.text(node).startswith("(("):
            return [self.opaque(node, "arithmetic command can run code")]
        redirects = _Redirects(self, getattr(node, "redirects", None) or [])
        substituted = self._hidden_effects(redirects.targets, node)
        if substituted:
            return substituted + redirects.effects
        if redirects.heredoc:
            return [self.opaque(node, "a heredoc feeds it", redirects.heredoc)] + redirects.effects
        ops = [op for part in node.list if part.kind != "reservedword" for op in self.walk(part)]
        return ops + redirects.effects

    def _control(self, node) -> list[Operation]:
        ops = []
        for part in node.parts:
            if part.kind == "word":                     # the word list of `for x in ...`
                ops += self._hidden_effects([part], node) + self.exposure(node, [part])
            elif part.kind != "reservedword":
                ops += self.walk(part)
        return ops

    def _hidden_effects(self, nodes: list, owner) -> list[Operation]:
        """Commands inside $(...), `...`, <(...) run for real and are walked; the owner's
        effect is then unknown.  Expansions that can run code make the owner opaque too."""
        inner = [sub for n in nodes for sub in _substitution_nodes(n)]
        runs_code = any(self._expansion(n) == "complex" for n in nodes)
        if not inner and not runs_code:
            return []
        ops = [op for sub in inner for op in self.walk(sub.command)]
        why = "uses command or process substitution" if inner else "uses an expansion that may run code"
        return ops + [self.opaque(owner, why)]

    def _expansion(self, word) -> str:
        """'' for a literal word; 'simple' for $NAME, ~ and globs; 'complex' when the
        expansion can run code or hides a substitution bashlex does not show."""
        nodes = list(_descendants(word))
        parameters = [n for n in nodes if n.kind == "parameter"]
        raw = self.text(word)
        if any(not _SIMPLE_PARAMETER.fullmatch(getattr(n, "value", None) or "") for n in parameters):
            return "complex"
        if has_active_substitution(raw) and not any(n.kind in _SUBSTITUTIONS for n in nodes):
            return "complex"
        if parameters or any(n.kind == "tilde" for n in nodes) or has_unquoted_pattern(raw):
            return "simple"
        return ""

    def _command(self, node) -> list[Operation]:
        words = [p for p in node.parts if p.kind == "word"]
        assignments = [p for p in node.parts if p.kind == "assignment"]
        unknown = [p for p in node.parts if p.kind not in ("word", "assignment", "redirect")]
        redirects = _Redirects(self, [p for p in node.parts if p.kind == "redirect"])
        if unknown:
            return [self.opaque(node, f"unsupported part {unknown[0].kind}")]
        substituted = self._hidden_effects(words + assignments + redirects.targets, node)
        if substituted:
            return substituted + redirects.effects
        if redirects.heredoc:
            return [self.opaque(node, "a heredoc feeds it", redirects.heredoc)] + redirects.effects
        return self._assigned(node, words, assignments) + redirects.effects

    def _assigned(self, node, words: list, assignments: list) -> list[Operation]:
        for name in (a.word.partition("=")[0].rstrip("+") for a in assignments):
            if not _NAME.fullmatch(name):
                return [self.opaque(node, f"assigns {name}, which is not a plain variable")]
            if is_dangerous_variable(name):
                return [self.opaque(node, f"sets {name}, which changes what commands run")]
        exposed = self.exposure(node, assignments)      # F=~/.aws/credentials; cat $F
        if exposed:
            return exposed
        if not words:
            return [_read_noop(self.text(node))]
        return self._simple(node, words)

    def exposure(self, node, words: list) -> list[Operation]:
        """An opaque operation when a word names a credential file or expands a secret."""
        texts = [self.literal(w) if w.kind == "word" else w.word.partition("=")[2] for w in words]
        exposed = credentials.exposed_by_any(t for t in texts if t)
        return [self.opaque(node, exposed)] if exposed else []

    def literal(self, word) -> str | None:
        """The word after quote removal; words with expansions keep bashlex's text."""
        return word.word if self._expansion(word) else remove_quotes(self.text(word))

    def _simple(self, node, words: list) -> list[Operation]:
        argv = [self.literal(w) for w in words]
        if None in argv:
            return [self.opaque(node, "a quote is not closed")]
        expanded = [i for i, w in enumerate(words) if self._expansion(w)]
        secret = credentials.exposed_by_any((argv[i] for i in expanded), paths=False)
        problem = secret or self._expansion_problem(argv, expanded)
        if problem:
            return [self.opaque(node, problem)]
        try:
            ops = interpret_words(argv, self.files, self.depth, self.strict)
        except Exception as exc:                        # an interpreter rejected the argv
            return [self.opaque(node, f"cannot interpret ({type(exc).__name__}: {exc})")]
        self._note_directory_change(argv)
        return ops + self._stdin_warning(node, argv, ops)

    def _expansion_problem(self, argv: list[str], expanded: list[int]) -> str:
        if not expanded:
            return ""
        if 0 in expanded or self.strict:
            return "a word is expanded by the shell"
        found = locate_command(argv)
        if found.problem:
            return ""                                   # opaque anyway, with its own reason
        last_fixed = found.script if found.script is not None else found.start
        if min(expanded) <= last_fixed or not tolerates_expanded_arguments(argv[found.start]):
            return "arguments are expanded by the shell, so the command is not known"
        return ""

    def _note_directory_change(self, argv: list[str]) -> None:
        found = locate_command(argv)
        if not found.problem and command_name(argv[found.start]) in _CHANGES_DIRECTORY:
            self.files = absolute_paths_only(self.files)

    def _stdin_warning(self, node, argv: list[str], ops: list[Operation]) -> list[Operation]:
        """A change whose input (``-f -``) comes from stdin is only partly known."""
        claims_change = any(op.verb not in (Verb.READ, Verb.EXEC) for op in ops)
        reads_stdin = any(arg in _STDIN_NAMES or arg.endswith("=-") for arg in argv[1:])
        if claims_change and reads_stdin:
            return [self.opaque(node, "reads its input from stdin")]
        return []


class _Redirects:
    """What the redirections of one command do."""

    def __init__(self, walker: _Walker, redirects: list):
        self.heredoc = ""                               # heredoc text, when there is one
        self.effects: list[Operation] = []              # files written, unknown redirections
        self.targets = [r.output for r in redirects if hasattr(r.output, "kind")]
        for redirect in redirects:
            self._add(walker, redirect)

    def _add(self, walker: _Walker, redirect) -> None:
        kind, target = redirect.type, redirect.output
        if kind in _INPUT_REDIRECTS and hasattr(target, "word"):     # cat < ~/.aws/credentials
            self.effects += walker.exposure(redirect, [target])
        if kind in _HEREDOCS:
            self.heredoc = getattr(redirect.heredoc, "value", "") or "<<"
        elif kind not in _INPUT_REDIRECTS | _OUTPUT_REDIRECTS:
            self.effects.append(walker.opaque(redirect, f"unknown redirection {kind}"))
        elif kind in _OUTPUT_REDIRECTS and hasattr(target, "word"):   # not `2>&1`
            sink = walker.literal(target)
            if sink not in _SAFE_SINKS:
                self.effects.append(opaque(f"writes file {sink or target.word}"))


def _descendants(node):
    """Nodes inside a word, not entering substitutions (those are walked as commands)."""
    for part in getattr(node, "parts", None) or []:
        yield part
        if part.kind not in _SUBSTITUTIONS:
            yield from _descendants(part)


def _substitution_nodes(node):
    return [n for n in _descendants(node) if n.kind in _SUBSTITUTIONS]
