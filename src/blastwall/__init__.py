"""blastwall: what does this change really touch, and may an agent run it?

    >>> from blastwall import Engine
    >>> engine = Engine.load("inventory.yaml")            # the built-in recommended policy
    >>> decision = engine.decide({"agent": "bot", "argv": ["kubectl", "delete", "ns", "web",
    ...                                                   "--context", "prod-us-east-1"]})
    >>> decision.effect, decision.impact.deleted
"""
from blastwall.core.decide import Context, decide
from blastwall.core.graph import Fleet
from blastwall.core.model import (ApprovalRequirement, Decision, Effect, Impact, Operation, Proposal,
                                  Reason, Verb)
from blastwall.core.policy import Policy
from blastwall.core.proposal import parse_proposal
from blastwall.engine import Engine
from blastwall.errors import (BlastwallError, EngineError, InputError, InventoryError, PolicyError,
                              ProposalError)
from blastwall.loaders.inventory import load_inventory
from blastwall.loaders.policy import load_policy

__all__ = [
    "ApprovalRequirement", "BlastwallError", "Context", "Decision", "Effect", "Engine", "EngineError",
    "Fleet", "Impact", "InputError", "InventoryError", "Operation", "Policy", "PolicyError", "Proposal",
    "ProposalError", "Reason", "Verb", "decide", "load_inventory", "load_policy", "parse_proposal",
]
