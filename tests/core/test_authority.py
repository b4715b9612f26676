from hypothesis import given, strategies as st

from blastwall.core.authority import Authority, Principal, check_reviewer

IMPACT = {"environments": ["prod"], "regions": ["cn-north-1", "cn-northwest-1"], "customers": 33000,
          "fleet_fraction": 0.32, "unknown_targets": []}
PROPOSAL = {"agent": "kiro-ops-7", "operator": "alice"}
WIDE = Authority(frozenset({"prod"}), frozenset({"cn-north-1", "cn-northwest-1"}), 100000, 0.5)


def human(name, authority=WIDE, roles=("approver",)):
    return Principal(name, "human", frozenset(roles), authority=authority)


def test_eligible_reviewer_is_accepted():
    assert check_reviewer(human("bob"), PROPOSAL, IMPACT, set()).accepted


def test_requester_operator_agent_double_review_and_role_are_refused():
    cases = [
        (Principal("kiro-ops-7", "human", frozenset({"approver"}), authority=WIDE), "requester"),
        (human("alice"), "operates the proposing agent"),
        (Principal("bot-2", "agent", authority=WIDE), "only humans"),
        (human("carol", roles=()), "approver role"),
    ]
    for who, words in cases:
        check = check_reviewer(who, PROPOSAL, IMPACT, set())
        assert not check.accepted and words in check.reason
    again = check_reviewer(human("bob"), PROPOSAL, IMPACT, {"bob"})
    assert not again.accepted and "already reviewed" in again.reason


def test_scope_mismatch_names_every_gap():
    narrow = Authority(frozenset({"prod"}), frozenset({"cn-north-1"}), 10000, 0.05)
    check = check_reviewer(human("dave", narrow), PROPOSAL, IMPACT, set())
    assert not check.accepted
    assert "regions cn-northwest-1" in check.reason
    assert "33,000 customers (ceiling 10,000)" in check.reason
    assert "32.0% of the fleet" in check.reason


def test_unknown_targets_need_authority_everywhere():
    impact = {**IMPACT, "unknown_targets": ["<opaque: x>"]}
    assert not check_reviewer(human("bob"), PROPOSAL, impact, set()).accepted
    star = Authority(frozenset({"*"}), frozenset({"*"}), 10**9, 1.0)
    assert check_reviewer(human("root", star), PROPOSAL, impact, set()).accepted


@given(st.sets(st.sampled_from(["prod", "dev", "staging"])), st.sets(st.sampled_from(["a", "b", "c"])),
       st.sets(st.sampled_from(["prod", "dev", "staging"]), min_size=1), st.sets(st.sampled_from(["a", "b", "c"]), min_size=1))
def test_accepted_only_when_authority_is_a_superset(auth_envs, auth_regs, envs, regs):
    authority = Authority(frozenset(auth_envs), frozenset(auth_regs), 10**6, 1.0)
    impact = {**IMPACT, "environments": sorted(envs), "regions": sorted(regs)}
    accepted = check_reviewer(human("bob", authority), PROPOSAL, impact, set()).accepted
    assert accepted == (envs <= auth_envs and regs <= auth_regs)
