from datetime import datetime, timezone

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from blastwall.core.decide import Context, decide
from blastwall.core.model import Effect, Operation, Proposal, Verb
from blastwall.core.policy import compile_policy
from blastwall.core.policy.facts import FACTS
from blastwall.errors import PolicyError
from blastwall.loaders.policy import builtin_policy_doc, policy_from_text
from tests.conftest import T0


def policy(text: str):
    return policy_from_text(text)


def proposal(*ops, agent="bot"):
    return Proposal(agent, "alice", "", tuple(ops))


@pytest.mark.parametrize("text, field, words", [
    ("version: 2\n", "version", "unsupported version"),
    ("version: 1\nextends: strict\n", "extends", "only be 'recommended'"),
    ("version: 1\nrulez: []\n", "rulez", "unknown key"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'impact.nope > 1', message: m}\n", "rules[0].when", "undeclared reference"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'impact.deleted > \"a\"', message: m}\n", "rules[0].when", "no matching overload"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'impact.deleted', message: m}\n", "rules[0].when", "must be boolean"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'impact.deleted >', message: m}\n", "rules[0].when", "does not compile"),
    ("version: 1\nrules:\n  - {name: x, effect: maybe, when: 'true', message: m}\n", "rules[0].effect", "allow, approve or deny"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'true'}\n", "rules[0].message", "required"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'true', message: '{impact.nope}'}\n", "rules[0].message", "unknown placeholder"),
    ("version: 1\nrules:\n  - {name: Bad Name, effect: deny, when: 'true', message: m}\n", "rules[0].name", "lower-case"),
    ("version: 1\nrules:\n  - {name: freeze, effect: deny, when: 'true', message: m}\n", "rules[0].name", "used twice"),
    ("version: 1\nrules:\n  - {name: x, effect: approve, approvers: 0, when: 'true', message: m}\n", "rules[0].approvers", "1..20"),
    ("version: 1\nrules:\n  - {name: x, effect: deny, when: 'true', message: m, priority: 3}\n", "rules[0].priority", "unknown rule key"),
    ("version: 1\nextends: recommended\ndisable: [kill-switch]\n", "disable", "guards cannot be disabled"),
    ("version: 1\nextends: recommended\nparams: {approve_customers: lots}\n", "params.approve_customers", "must be int"),
    ("version: 1\nextends: recommended\nparams: {x: {a: 1}}\n", "params.x", "number, string"),
    ("version: 1\nfreezes:\n  - {name: f, start: '2025-01-02T00:00:00Z', end: '2025-01-01T00:00:00Z'}\n", "freezes[0].end", "after"),
    ("version: 1\nfreezes:\n  - {name: f, start: '2025-01-01', end: '2025-01-02T00:00:00Z'}\n", "freezes[0].start", "offset"),
    ("version: 1\nfreezes:\n  - {name: f, start: '2025-01-01T00:00:00Z', end: '2025-01-02T00:00:00Z', scope: {colour: red}}\n", "freezes[0].scope.colour", "unknown scope field"),
    ("version: 1\nwindows:\n  - {name: w, timezone: Mars/Olympus, start: '09:00', end: '17:00'}\n", "windows[0].timezone", "time zone"),
    ("version: 1\nwindows:\n  - {name: w, days: [funday], start: '09:00', end: '17:00'}\n", "windows[0].days", "days"),
    ("version: 1\nwindows:\n  - {name: w, start: '25:00', end: '17:00'}\n", "windows[0].start", "HH:MM"),
])
def test_bad_policies_name_the_field(text, field, words):
    with pytest.raises(PolicyError) as err:
        policy(text)
    assert err.value.field == field
    assert words in err.value.message


def test_recommended_policy_compiles_and_every_threshold_is_a_param(recommended):
    assert {"approve_customers", "two_person_customers", "approve_fleet_fraction",
            "cost_increase_approve", "cost_increase_deny"} <= set(recommended.params)
    names = [r.name for r in recommended.rules]
    assert names[:6] == ["kill-switch", "freeze", "change-window", "unknown-destructive",
                         "unknown-target", "opaque-command"]
    assert all(r.guard for r in recommended.rules[:6])


def test_params_override_changes_the_decision(sample_fleet):
    op = Operation(Verb.DELETE, "k8s:prod-cn-north-1:namespace:payments")      # 21,000 customers
    base = decide(sample_fleet, policy("version: 1\nextends: recommended\n"), proposal(op), Context(T0))
    raised = decide(sample_fleet, policy("version: 1\nextends: recommended\nparams: {approve_customers: 30000}\n"),
                    proposal(op), Context(T0))
    assert base.effect is Effect.APPROVE and raised.effect is Effect.ALLOW


def test_custom_rule_message_templates_the_numbers(sample_fleet):
    p = policy("""version: 1
extends: recommended
rules:
  - name: no-payments-deletes
    effect: deny
    when: "impact.deleted > 0 && impact.customers > 1000"
    message: "{impact.deleted} deleted, {impact.customers} customers, {impact.regions}"
    alternative: "ask payments"
""")
    d = decide(sample_fleet, p, proposal(Operation(Verb.DELETE, "k8s:prod-cn-north-1:namespace:payments")), Context(T0))
    assert d.effect is Effect.DENY
    reason = next(r for r in d.reasons if r.rule == "no-payments-deletes")
    assert reason.message == "2 deleted, 21,000 customers, cn-north-1"
    assert "ask payments" in d.explanation


def test_the_approver_is_told_what_an_opaque_command_runs_and_rules_can_match_it(sample_fleet):
    from blastwall.core.interpret.argv import interpret_argv
    p = policy("""version: 1
extends: recommended
rules:
  - name: no-credential-reads
    effect: deny
    when: "proposal.opaque_commands.exists(c, c.contains('reads credentials'))"
    message: "credentials: {proposal.opaque_commands}"
""")
    ops = [*interpret_argv(["cat", "/root/.aws/credentials"]), *(Operation(Verb.EXEC, f"<job {n}>") for n in range(4))]
    d = decide(sample_fleet, p, proposal(*ops), Context(T0))
    assert d.effect is Effect.DENY
    [reason] = [r for r in d.reasons if r.rule == "no-credential-reads"]
    assert reason.message == ("credentials: cat /root/.aws/credentials [reads credentials (/root/.aws/credentials)], "
                              "<job 0>, <job 1>, 2 more")
    routine = decide(sample_fleet, p, proposal(*interpret_argv(["kubectl", "version", "--client"])), Context(T0))
    assert routine.effect is Effect.ALLOW


def test_without_extends_only_guards_and_own_rules_apply(sample_fleet):
    p = policy("version: 1\n")
    d = decide(sample_fleet, p, proposal(Operation(Verb.DELETE, "env/prod-cn")), Context(T0))
    assert d.effect is Effect.APPROVE and d.reasons[0].rule == "default"
    assert [r.name for r in p.rules] == [r["name"] for r in builtin_policy_doc()["guards"]]


def test_disable_removes_a_recommended_rule(sample_fleet):
    p = policy("version: 1\nextends: recommended\ndisable: [prod-customers]\n")
    d = decide(sample_fleet, p, proposal(Operation(Verb.DELETE, "k8s:prod-cn-north-1:namespace:payments")), Context(T0))
    assert d.effect is Effect.ALLOW


def test_runtime_evaluation_error_is_a_deny_with_reason(sample_fleet):
    p = policy("""version: 1
extends: recommended
rules:
  - name: divide
    effect: allow
    when: "impact.deleted / impact.degraded > 1"
    message: m
""")
    d = decide(sample_fleet, p, proposal(Operation(Verb.READ, "env/prod-cn")), Context(T0))
    assert d.effect is Effect.DENY
    assert d.reasons[0].rule == "divide" and "could not be evaluated" in d.reasons[0].message


@pytest.mark.parametrize("mutate", [
    lambda f: f.pop("impact.customers"),
    lambda f: f.__setitem__("impact.customers", "many"),
    lambda f: f.__setitem__("impact.regions", [1, 2]),
    lambda f: f.__setitem__("impact.deleted", True),
    lambda f: f.__setitem__("context.now", datetime(2025, 1, 1)),
    lambda f: f.__setitem__("impact.surprise", 1),
])
def test_a_missing_or_mistyped_fact_is_a_deny(recommended, sample_fleet, mutate):
    from blastwall.core.decide import policy_facts
    from blastwall.core.impact import blast_radius, resolve
    prop = proposal(Operation(Verb.READ, "env/prod-cn"))
    radius = blast_radius(sample_fleet, resolve(sample_fleet, prop.operations))
    facts = policy_facts(sample_fleet, recommended, prop, radius, radius.impact(), Context(T0))
    assert recommended.evaluate(facts).effect is Effect.ALLOW
    mutate(facts)
    outcome = recommended.evaluate(facts)
    assert outcome.effect is Effect.DENY and outcome.reasons[0].rule == "policy-input"


def test_every_declared_fact_is_provided(recommended, sample_fleet):
    from blastwall.core.decide import policy_facts
    from blastwall.core.impact import blast_radius, resolve
    prop = proposal(Operation(Verb.DELETE, "env/prod-cn"))
    radius = blast_radius(sample_fleet, resolve(sample_fleet, prop.operations))
    facts = policy_facts(sample_fleet, recommended, prop, radius, radius.impact(), Context(T0))
    assert set(facts) == set(FACTS)


FREEZE = """version: 1
extends: recommended
params: {approve_customers: 100000}
freezes:
  - name: holiday
    start: 2026-03-01T00:00:00Z
    end: 2026-03-10T00:00:00Z
    scope: {env: prod}
"""


@pytest.mark.parametrize("op, when, effect", [
    (Operation(Verb.RESTART, "deploy/prod-us-east-1/web"), T0, Effect.DENY),
    (Operation(Verb.READ, "deploy/prod-us-east-1/web"), T0, Effect.ALLOW),
    (Operation(Verb.RESTART, "deploy/dev-us-east-1/web"), T0, Effect.ALLOW),
    (Operation(Verb.RESTART, "deploy/prod-us-east-1/web"), datetime(2026, 3, 10, tzinfo=timezone.utc), Effect.ALLOW),
    (Operation(Verb.RESTART, "deploy/prod-us-east-1/web"), datetime(2026, 2, 28, 23, 59, tzinfo=timezone.utc), Effect.ALLOW),
    (Operation(Verb.CREATE, "deploy/prod-us-east-1/web"), T0, Effect.DENY),
])
def test_freeze_scope_and_boundaries(sample_fleet, op, when, effect):
    d = decide(sample_fleet, policy(FREEZE), proposal(op), Context(when))
    assert d.effect is effect, d.explanation
    assert (d.reasons[0].rule == "freeze") == (effect is Effect.DENY)


WINDOW = """version: 1
extends: recommended
params: {approve_customers: 100000}
windows:
  - name: berlin-office-hours
    scope: {env: prod}
    timezone: Europe/Berlin
    days: [mon, tue, wed, thu]
    start: "09:00"
    end: "17:00"
  - name: night-batch
    scope: {env: dev}
    timezone: UTC
    days: [fri]
    start: "22:00"
    end: "02:00"
"""


@pytest.mark.parametrize("target, when, effect", [
    ("deploy/prod-us-east-1/web", datetime(2026, 3, 4, 8, 30, tzinfo=timezone.utc), Effect.ALLOW),   # 09:30 Berlin Wed
    ("deploy/prod-us-east-1/web", datetime(2026, 3, 4, 7, 30, tzinfo=timezone.utc), Effect.DENY),    # 08:30 Berlin
    ("deploy/prod-us-east-1/web", datetime(2026, 7, 1, 15, 30, tzinfo=timezone.utc), Effect.DENY),   # 17:30 CEST
    ("deploy/prod-us-east-1/web", datetime(2026, 7, 1, 14, 30, tzinfo=timezone.utc), Effect.ALLOW),  # 16:30 CEST
    ("deploy/prod-us-east-1/web", datetime(2026, 3, 6, 10, 0, tzinfo=timezone.utc), Effect.DENY),    # Friday
    ("deploy/dev-us-east-1/web", datetime(2026, 3, 6, 23, 0, tzinfo=timezone.utc), Effect.ALLOW),    # Fri 23:00
    ("deploy/dev-us-east-1/web", datetime(2026, 3, 7, 1, 0, tzinfo=timezone.utc), Effect.ALLOW),     # Sat 01:00, Fri's window
    ("deploy/dev-us-east-1/web", datetime(2026, 3, 7, 23, 0, tzinfo=timezone.utc), Effect.DENY),     # Sat 23:00
])
def test_recurring_windows_in_their_time_zone(sample_fleet, target, when, effect):
    d = decide(sample_fleet, policy(WINDOW), proposal(Operation(Verb.RESTART, target)), Context(when))
    assert d.effect is effect, d.explanation


def test_kill_switch_denies_all_but_reads(sample_fleet, recommended):
    stop = Context(T0, kill_switch=True)
    assert decide(sample_fleet, recommended, proposal(Operation(Verb.RESTART, "deploy/dev-us-east-1/web")), stop).effect is Effect.DENY
    assert decide(sample_fleet, recommended, proposal(Operation(Verb.READ, "deploy/dev-us-east-1/web")), stop).effect is Effect.ALLOW


@st.composite
def random_rule(draw):
    fact = draw(st.sampled_from([k for k, v in FACTS.items() if v == "int"]))
    bound = draw(st.integers(-5, 50_000))
    effect = draw(st.sampled_from(["allow", "approve", "deny"]))
    return {"name": f"r-{draw(st.integers(0, 10**6))}", "effect": effect,
            "when": f"{fact} > {bound}", "message": "m"}


@settings(max_examples=60, deadline=None)
@given(st.lists(random_rule(), max_size=6, unique_by=lambda r: r["name"]),
       st.sampled_from(["delete", "restart", "read", "update"]),
       st.sampled_from(["env/prod-cn", "deploy/dev-us-east-1/web", "db/orders-prod-us-east-1"]))
def test_deny_beats_approve_beats_allow(sample_fleet, rules, verb, target):
    p = compile_policy({"version": 1, "extends": "recommended", "rules": rules}, builtin_policy_doc())
    d = decide(sample_fleet, p, proposal(Operation(Verb(verb), target)), Context(T0))
    effects = {r.effect for r in d.reasons}
    assert d.effect == max(effects, key=lambda e: e.severity)
    assert all(r.effect.severity <= d.effect.severity for r in d.reasons)
    assert (d.approval is not None) == (d.effect is Effect.APPROVE)


def test_policy_revision_changes_with_content():
    a = policy("version: 1\nextends: recommended\n")
    b = policy("version: 1\nextends: recommended\nparams: {approve_customers: 1}\n")
    assert a.revision != b.revision and a.revision == policy("version: 1\nextends: recommended\n").revision


def test_yaml_policy_with_unquoted_times(sample_fleet):
    doc = yaml.safe_load(FREEZE)          # PyYAML reads the ISO times as datetimes
    p = compile_policy(doc, builtin_policy_doc())
    assert p.freezes[0].active(T0)


def test_decision_id_is_a_function_of_every_input(sample_fleet, recommended):
    base = proposal(Operation(Verb.RESTART, "deploy/dev-us-east-1/web"))
    ids = {
        decide(sample_fleet, recommended, base, Context(T0)).decision_id,
        decide(sample_fleet, recommended, proposal(Operation(Verb.RESTART, "deploy/dev-us-east-1/api")), Context(T0)).decision_id,
        decide(sample_fleet, recommended, proposal(Operation(Verb.RESTART, "deploy/dev-us-east-1/web"), agent="x"), Context(T0)).decision_id,
        decide(sample_fleet, recommended, base, Context(T0, kill_switch=True)).decision_id,
        decide(sample_fleet, recommended, base, Context(datetime(2026, 3, 5, tzinfo=timezone.utc))).decision_id,
        decide(sample_fleet, recommended, Proposal("bot", "alice", "other", base.operations), Context(T0)).decision_id,
    }
    assert len(ids) == 6
    assert decide(sample_fleet, recommended, base, Context(T0)).decision_id in ids


# one CEL call for every rule (rules.BATCH bits), only the facts rules read -----------------------
@st.composite
def facts_for(draw, recommended):
    from blastwall.core.policy.facts import STR_LIST
    values = {"int": st.integers(-5, 10**6), "double": st.floats(0, 2, allow_nan=False),
              "bool": st.booleans(), "string": st.sampled_from(["", "bot", "alice", "argv"]),
              STR_LIST: st.lists(st.sampled_from(["prod", "dev", "us-east-1", "cn-north-1", "x"]), max_size=3),
              "timestamp": st.just(T0)}
    return {name: draw(values[kind]) for name, kind in FACTS.items()}


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_batched_evaluation_matches_rule_by_rule(recommended, data):
    from blastwall.core.policy.rules import _each, _holds
    facts = data.draw(facts_for(recommended))
    full = {**facts, **{f"params.{k}": v for k, v in recommended.params.items()}}
    activation = recommended.env.Activation(full)
    one_by_one = {r.name for r in recommended.rules if _holds(r, activation)[0]}
    batched = {r.name for r, ok, detail in _each(recommended.rules, recommended.batches, activation) if ok}
    assert all(program is not None for _, _, program in recommended.batches)
    assert batched == one_by_one                                     # every rule, whatever its effect
    held = [r for r in recommended.rules if r.name in one_by_one]
    strongest = max((r.effect for r in held), key=lambda e: e.severity, default=recommended.default)
    assert recommended.evaluate(facts).effect is strongest


def test_more_rules_than_one_batch_and_an_erring_rule_name_themselves(sample_fleet):
    from blastwall.core.policy.rules import BATCH
    rules = [{"name": f"r-{i}", "effect": "approve" if i == BATCH + 3 else "allow",
              "when": f"impact.resources >= {i}", "message": f"rule {i}"} for i in range(BATCH + 5)]
    p = compile_policy({"version": 1, "rules": rules}, builtin_policy_doc())
    assert len(p.batches) == -(-len(p.rules) // BATCH) and all(prog is not None for _, _, prog in p.batches)
    big = proposal(Operation(Verb.RESTART, "env/prod-cn"))        # touches more than BATCH + 3 resources?
    d = decide(sample_fleet, p, big, Context(T0))
    n = d.impact.resources
    assert d.effect is (Effect.APPROVE if n >= BATCH + 3 else Effect.ALLOW)
    erring = rules + [{"name": "zero", "effect": "allow", "when": "impact.resources / impact.deleted > 0",
                       "message": "m"}]
    p = compile_policy({"version": 1, "rules": erring}, builtin_policy_doc())
    d = decide(sample_fleet, p, proposal(Operation(Verb.READ, "env/prod-cn")), Context(T0))
    assert d.effect is Effect.DENY and d.reasons[0].rule == "zero"


@pytest.mark.parametrize("when", ["impact . customers >= 0", "(impact.customers) >= 0 && true",
                                  "[0].exists(x, impact.customers >= x) // trailing comment"])
def test_facts_are_found_however_the_rule_spells_them(sample_fleet, when):
    p = compile_policy({"version": 1, "rules": [{"name": "x", "effect": "deny", "when": when, "message": "m"}]},
                       builtin_policy_doc())
    assert "impact.customers" in p.needed and "impact.deleted" not in p.needed
    d = decide(sample_fleet, p, proposal(Operation(Verb.READ, "env/prod-cn")), Context(T0))
    assert d.effect is Effect.DENY and d.reasons[0].rule == "x" and d.reasons[0].message == "m"   # not an error


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet="ab {}:,.%", max_size=6),
                          st.sampled_from(["{impact.customers}", "{impact.customers:,}", "{impact.regions}",
                                           "{impact.fleet_fraction:.1%}", "{impact.destructive}", "{nope.x}",
                                           "{impact.customers:bad}"])), max_size=6))
def test_parsed_templates_render_like_the_pattern(pieces):
    from blastwall.core.policy.template import _PLACEHOLDER, _format, parse, render_parts
    text = "".join(pieces)
    facts = {"impact.customers": 21000, "impact.regions": ["cn-north-1"], "impact.fleet_fraction": 0.25,
             "impact.destructive": True}
    reference = _PLACEHOLDER.sub(lambda m: _format(facts.get(m.group(1), "?"), m.group(2) or ""), text)
    assert render_parts(parse(text), facts) == reference


def _fresh(policy, facts):
    """The outcome without the memo."""
    from dataclasses import replace
    return replace(policy, keyed=None).evaluate(facts)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_memoized_outcomes_are_the_outcomes(recommended, data):
    """Drawn from a small domain so that facts repeat: every answer, memoized or not, is the one
    the rules give for these facts."""
    from blastwall.core.policy.facts import STR_LIST
    few = {"int": st.sampled_from([0, 1, 5000]), "double": st.sampled_from([0.0, -0.0, 0.5, float("inf"), float("nan")]),
           "bool": st.booleans(), "string": st.sampled_from(["bot", "argv"]),
           STR_LIST: st.sampled_from([[], ["prod"], ["prod", "us-east-1"]]), "timestamp": st.just(T0)}
    for _ in range(5):
        facts = {name: data.draw(few[kind]) for name, kind in FACTS.items()}
        assert recommended.evaluate(facts) == _fresh(recommended, facts)


def test_a_fact_only_a_message_shows_is_part_of_the_memo_key(sample_fleet):
    p = compile_policy({"version": 1, "rules": [{"name": "x", "effect": "approve", "when": "impact.deleted >= 0",
                                                 "message": "{impact.regions} and {proposal.agent}"}]},
                       builtin_policy_doc())
    assert "impact.regions" in p.keyed and "impact.regions" not in p.needed
    ops = [Operation(Verb.DELETE, "env/prod-cn"), Operation(Verb.RESTART, "env/dev-us")]
    messages = {decide(sample_fleet, p, proposal(op, agent=who), Context(T0)).reasons[0].message
                for op in ops for who in ("bot", "bot-2") for _ in range(2)}
    assert len(messages) == 4 and len(p.memo) >= 4


def test_a_policy_that_reads_the_clock_is_not_memoized(sample_fleet):
    from datetime import timedelta
    p = compile_policy({"version": 1, "rules": [{"name": "late", "effect": "deny", "message": "after {context.now}",
                                                 "when": "context.now > timestamp('2026-03-04T12:30:00Z')"}]},
                       builtin_policy_doc())
    assert p.keyed is None
    op = Operation(Verb.RESTART, "env/dev-us")
    early, late = (decide(sample_fleet, p, proposal(op), Context(T0 + timedelta(hours=h))) for h in (0, 1))
    assert early.effect is p.default is not Effect.DENY and late.effect is Effect.DENY
    assert len(p.memo) == 0


def test_the_memo_is_bounded(recommended):
    from blastwall.core.policy.facts import STR_LIST
    from blastwall.core.policy.rules import OutcomeMemo
    base = {name: {"int": 0, "double": 0.0, "bool": False, "string": "bot", STR_LIST: [], "timestamp": T0}[kind]
            for name, kind in FACTS.items()}
    for i in range(OutcomeMemo.SIZE + 10):
        recommended.evaluate({**base, "impact.resources": i})
    assert len(recommended.memo) == OutcomeMemo.SIZE
    assert recommended.evaluate({**base, "impact.resources": 7}) == _fresh(recommended, {**base, "impact.resources": 7})


def test_a_policy_made_from_another_does_not_share_its_memo(recommended):
    from dataclasses import replace
    from blastwall.core.policy.facts import STR_LIST
    facts = {name: {"int": 0, "double": 0.0, "bool": False, "string": "bot", STR_LIST: [], "timestamp": T0}[kind]
             for name, kind in FACTS.items()}
    strict = replace(recommended, rules=(), default=Effect.DENY)
    assert recommended.evaluate(facts).effect is not Effect.DENY
    assert strict.memo is not recommended.memo and strict.evaluate(facts).effect is Effect.DENY
