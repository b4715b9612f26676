"""Emergency overrides and exhausted budgets, as properties over arbitrary decisions."""
from hypothesis import given, strategies as st

from blastwall.core.limits import Charge
from blastwall.core.model import ApprovalRequirement, Decision, Effect, Impact, Reason
from blastwall.core.overrides import OVERRIDABLE, emergency_override, over_budget, overrides_approved

RULES = sorted(OVERRIDABLE) + ["kill-switch", "destructive-prod", "rate-limit", "unknown-target"]
ENVS = st.lists(st.sampled_from(["prod", "staging", "dev"]), unique=True).map(tuple)


@st.composite
def decisions(draw) -> Decision:
    reasons = tuple(draw(st.lists(st.builds(Reason, st.sampled_from(RULES), st.sampled_from(list(Effect)),
                                            st.text(max_size=10)), max_size=5)))
    effect = max((r.effect for r in reasons), key=lambda e: e.severity, default=Effect.ALLOW)
    impact = Impact((), (), 0, 0, 1, draw(ENVS), draw(ENVS), 0, 0, 0.0, 0.0)
    approvers = draw(st.integers(1, 5))
    approval = ApprovalRequirement(approvers, impact.environments, impact.regions, ("x",)) \
        if effect is Effect.APPROVE else None
    return Decision("dec_1", effect, reasons, impact, approval, "why", {}, draw(st.integers(0, 5)))


def denies(d: Decision) -> set[str]:
    return {r.rule for r in d.reasons if r.effect is Effect.DENY}


@given(decisions())
def test_an_override_only_turns_freezes_and_windows_into_a_larger_approval(d):
    out = emergency_override(d)
    if denies(d) and denies(d) <= OVERRIDABLE:
        assert out.effect is Effect.APPROVE
        asked = max(d.rule_approvers, d.approval.approvers if d.approval else 0)
        assert out.approval.approvers >= max(2, asked + 1)
        assert out.approval.rules == ("emergency-override",)
        assert out.reasons[1:] == d.reasons                     # every original reason still shown
        assert out.approval.environments == d.impact.environments
    else:
        assert out is d                                        # never loosens anything else


@given(decisions())
def test_an_override_is_never_an_allow_and_applying_it_twice_changes_nothing_more(d):
    once = emergency_override(d)
    assert once.effect is not Effect.ALLOW or d.effect is Effect.ALLOW
    assert emergency_override(once) is once                    # no denial left to override


@given(decisions(), st.integers(1, 100))
def test_over_budget_always_denies_and_asks_for_no_approval(d, maximum):
    out = over_budget(d, Charge("agent:bot|changes|hour", 1, maximum, "agent-changes"))
    assert out.effect is Effect.DENY and out.approval is None
    assert out.reasons[0].rule == "rate-limit" and f"{maximum:g} changes per hour" in out.reasons[0].message


@given(decisions(), decisions())
def test_an_approved_override_covers_only_the_denials_it_was_approved_for(now, then):
    approved = emergency_override(then).to_dict()
    covered = overrides_approved(now, approved)
    was_override = "emergency-override" in (approved["approval"] or {}).get("rules", ())
    said = lambda d: {(r.rule, r.message) for r in d.reasons if r.effect is Effect.DENY}   # noqa: E731
    assert covered == (was_override and bool(said(now)) and said(now) <= said(then))


def test_no_approved_decision_covers_nothing():
    d = Decision("dec_1", Effect.DENY, (Reason("freeze", Effect.DENY, "frozen"),),
                 Impact((), (), 0, 0, 1, ("prod",), (), 0, 0, 0.0, 0.0), None, "why")
    assert not overrides_approved(d, None)
    assert not overrides_approved(d, d.to_dict())              # denied, never an override
    assert overrides_approved(d, emergency_override(d).to_dict())


def test_an_override_of_one_freeze_does_not_cover_another():
    def frozen(names: str) -> Decision:
        return Decision("dec_1", Effect.DENY, (Reason("freeze", Effect.DENY, f"Change freeze in force ([{names}])"),),
                        Impact((), (), 0, 0, 1, ("prod",), (), 0, 0, 0.0, 0.0), None, "why")
    approved = emergency_override(frozen("release-freeze")).to_dict()
    assert overrides_approved(frozen("release-freeze"), approved)
    assert not overrides_approved(frozen("incident-4711-freeze"), approved)
    assert not overrides_approved(frozen("release-freeze, incident-4711-freeze"), approved)
