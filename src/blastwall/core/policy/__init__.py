"""Policy: rule format, CEL compilation, evaluation, the built-in recommended policy."""
from blastwall.core.policy.rules import Outcome, Policy, Rule, compile_policy

__all__ = ["Outcome", "Policy", "Rule", "compile_policy"]
