"""Decisions changed after the policy spoke: an emergency override asked for, a budget found spent.

Pure functions of a Decision (no clock, no store): the service applies them when it decides,
when a budget runs out inside the recording transaction, and again at redemption.
"""
from __future__ import annotations

from dataclasses import replace

from blastwall.core.limits import Charge
from blastwall.core.model import ApprovalRequirement, Decision, Effect, Reason

OVERRIDABLE = frozenset({"freeze", "change-window"})   # the only denials an emergency may override
OVERRIDE_RULE = "emergency-override"


def denials(decision: Decision) -> set[str]:
    return {r.rule for r in decision.reasons if r.effect is Effect.DENY}


def emergency_override(decision: Decision) -> Decision:
    """A decision denied only by freezes or closed windows becomes an approval that needs more
    approvers than the change itself would (at least two), named in the audit log; any other
    decision (one already overridden too) is returned as it is."""
    denies = denials(decision)
    if not denies or not denies <= OVERRIDABLE or any(r.rule == OVERRIDE_RULE for r in decision.reasons):
        return decision
    base = max(1, decision.rule_approvers, decision.approval.approvers if decision.approval else 0)
    need = max(2, base + 1)
    reason = Reason(OVERRIDE_RULE, Effect.APPROVE,
                    f"Emergency override of {', '.join(sorted(denies))}: {need} approvers required.")
    approval = ApprovalRequirement(need, decision.impact.environments, decision.impact.regions, (OVERRIDE_RULE,))
    return replace(decision, effect=Effect.APPROVE, reasons=(reason, *decision.reasons), approval=approval,
                   explanation="EMERGENCY OVERRIDE requested. " + decision.explanation)


def overrides_approved(decision: Decision, approved: dict | None) -> bool:
    """Whether the humans' approval of ``approved`` (a stored decision document) was an emergency
    override of every denial ``decision`` carries now: the same rules saying the same (a freeze's
    message names the freezes in force, so an override of one freeze does not cover another; the
    policy revision is bound to the approval, so the messages are the rules' own)."""
    if not approved or OVERRIDE_RULE not in ((approved.get("approval") or {}).get("rules") or []):
        return False
    covered = {(r["rule"], r["message"]) for r in approved.get("reasons", []) if r["effect"] == "deny"}
    denies = {(r.rule, r.message) for r in decision.reasons if r.effect is Effect.DENY}
    return bool(denies) and denies <= covered


def over_budget(decision: Decision, charge: Charge) -> Decision:
    """Denied: recording this change would pass the limit ``charge`` counts against."""
    reason = Reason("rate-limit", Effect.DENY, f"Over {charge.describe()}.",
                    "Wait for the window to pass, or batch the work into fewer changes.")
    return replace(decision, effect=Effect.DENY, reasons=(reason, *decision.reasons), approval=None,
                   explanation=f"Denied: over {charge.describe()}. " + decision.explanation)
