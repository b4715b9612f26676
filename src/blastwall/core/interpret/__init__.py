"""Artifacts (argv, shell strings, Terraform plans) -> Operations.

Anything that cannot be interpreted with certainty becomes ``exec`` on an
unknown target (``model.opaque``).  Unknown is never allowed.
"""
from blastwall.core.interpret.argv import FileReader, interpret_argv
from blastwall.core.interpret.shell import interpret_shell
from blastwall.core.interpret.terraform_plan import interpret_plan

__all__ = ["FileReader", "interpret_argv", "interpret_shell", "interpret_plan"]
