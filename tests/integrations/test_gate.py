"""The in-process Gate: guarded sync and async tool functions, locally and through a real service."""
import asyncio
import inspect

import pytest

from blastwall.core.model import Effect, Operation, Verb
from blastwall.errors import InputError, ProposalError
from blastwall.integrations import ApprovalRequired, AsyncClient, Client, Denied, Gate
from tests.conftest import SAMPLE_FLEET
from tests.service.conftest import token

DEPLOYMENT = "k8s:{context}:deployment:{namespace}/{name}"


@pytest.fixture(scope="module")
def gate():
    return Gate(inventory=SAMPLE_FLEET, agent="test-agent")


class Calls:
    """Records each run of a guarded function."""

    def __init__(self):
        self.runs = []

    def __call__(self, *args):
        self.runs.append(args)
        return "ran"


def guarded_tools(gate, calls):
    @gate.guard(verb="restart", target=DEPLOYMENT)
    def restart(context, namespace, name="web"):
        return calls(context, namespace, name)

    @gate.guard(mapping={"verb": "delete", "target": "env/{env}"}, intent="recreate the environment")
    def delete_env(env):
        return calls(env)

    @gate.guard(verb="delete", target="k8s:{context}:namespace:{namespace}")
    def delete_namespace(context, namespace):
        return calls(context, namespace)
    return restart, delete_env, delete_namespace


def test_allow_runs_with_defaults_applied(gate):
    calls = Calls()
    restart, _, _ = guarded_tools(gate, calls)
    assert restart("dev-us-east-1", namespace="web") == "ran"
    assert calls.runs == [("dev-us-east-1", "web", "web")]
    assert restart.__name__ == "restart"


def test_deny_raises_with_the_explanation_and_does_not_run(gate):
    calls = Calls()
    _, delete_env, _ = guarded_tools(gate, calls)
    with pytest.raises(Denied, match="Split the change per region") as denied:
        delete_env("prod-cn")
    assert denied.value.decision.effect is Effect.DENY
    assert str(denied.value) == denied.value.decision.explanation
    assert calls.runs == []


def test_approve_raises_approval_required_without_a_request_locally(gate):
    calls = Calls()
    _, _, delete_namespace = guarded_tools(gate, calls)
    with pytest.raises(ApprovalRequired) as needed:
        delete_namespace("prod-cn-north-1", "payments")
    assert needed.value.request_id is None
    assert needed.value.decision.approval.approvers == 1
    assert needed.value.proposal["operations"] == [{"verb": "delete",
                                                    "target": "k8s:prod-cn-north-1:namespace:payments"}]
    assert calls.runs == []


def test_async_functions_are_guarded_too(gate):
    calls = Calls()

    @gate.guard(verb="restart", target=DEPLOYMENT)
    async def restart(context, namespace, name="web"):
        await asyncio.sleep(0)
        return calls(context, namespace, name)

    @gate.guard(mapping={"verb": "delete", "target": "env/{env}"})
    async def delete_env(env):
        return calls(env)

    async def run():
        assert await restart("dev-us-east-1", "web") == "ran"
        with pytest.raises(Denied, match="Denied"):
            await delete_env("prod-cn")
        with pytest.raises(ApprovalRequired):
            await restart("prod-cn-north-1", "payments", "payments")
    assert inspect.iscoroutinefunction(restart)
    asyncio.run(run())
    assert calls.runs == [("dev-us-east-1", "web", "web")]


def test_artifact_and_selector_mappings(gate):
    calls = Calls()

    @gate.guard(mapping={"artifact": "argv", "from": "argv"})
    def kubectl(argv):
        return calls(*argv)

    @gate.guard(verb="restart", selector={"env": "{env}", "region": "{region}", "kind": "deployment"})
    def restart_all(env, region):
        return calls(env, region)

    assert kubectl(["kubectl", "rollout", "restart", "deployment/web", "-n", "web", "--context", "dev-us-east-1"]) \
        == "ran"
    with pytest.raises(ApprovalRequired):
        kubectl(["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"])
    assert restart_all("dev", "us-east-1") == "ran"
    assert len(calls.runs) == 2


def test_check_takes_a_proposal_or_operations(gate):
    assert gate.check([{"verb": "delete", "target": "env/prod-cn"}]).effect is Effect.DENY
    assert gate.check([Operation(Verb.RESTART, "k8s:dev-us-east-1:deployment:web/web")], intent="x").effect \
        is Effect.ALLOW
    assert gate.check({"intent": "clean up", "command": "kubectl delete ns payments --context prod-cn-north-1"}) \
        .effect is Effect.APPROVE
    assert asyncio.run(gate.acheck([{"verb": "delete", "target": "env/prod-cn"}])).effect is Effect.DENY


def test_bad_arguments_and_specs_refuse_before_running(gate):
    calls = Calls()
    restart, _, _ = guarded_tools(gate, calls)
    with pytest.raises(ProposalError, match="plain non-empty string"):
        restart("dev-us-east-1", "web", name="web web")
    with pytest.raises(ProposalError, match="missing"):
        restart("dev-us-east-1")
    with pytest.raises(InputError, match="verb"):
        gate.guard(verb="obliterate", target="x/{y}")(lambda y: y)
    with pytest.raises(InputError, match="reserves"):
        gate.guard(verb="read", target="x/{grant}")(lambda grant: grant)
    with pytest.raises(InputError, match="configure the Gate with a client"):
        restart("dev-us-east-1", "web", grant="grant_x")
    with pytest.raises(InputError):
        Gate()
    assert calls.runs == []


def test_every_parameter_is_judged_or_declared_unjudged(gate):
    calls = Calls()
    with pytest.raises(InputError, match="parameter 'force' is not judged") as err:
        gate.guard(verb="delete", target="k8s:{context}:namespace:{namespace}")(
            lambda context, namespace, force=False: calls(context, namespace, force))
    assert err.value.field == "unjudged"

    @gate.guard(verb="restart", target=DEPLOYMENT, unjudged=["wait"])
    def restart(context, namespace, name, wait=True):
        return calls(context, namespace, name, wait)

    @gate.guard(verb="restart", target=DEPLOYMENT)
    def restart_kw(context, namespace, **more):
        return calls(context, namespace, more)

    assert restart("dev-us-east-1", "web", "web", wait=False) == "ran"
    assert restart_kw("dev-us-east-1", "web", name="web") == "ran"
    with pytest.raises(ProposalError) as refused:
        restart_kw("dev-us-east-1", "web", name="web", all_namespaces=True)
    assert refused.value.field == "arguments.all_namespaces"
    assert calls.runs == [("dev-us-east-1", "web", "web", False), ("dev-us-east-1", "web", {"name": "web"})]


# ---- through a real `blastwall serve` ----------------------------------------------


def test_approval_through_the_service_then_single_use_grant(service):
    calls = Calls()
    with Client(service.url, token("kiro-ops-7")) as agent, Client(service.url, token("bob")) as bob:
        gate = Gate(client=agent)
        restart, delete_env, delete_namespace = guarded_tools(gate, calls)
        assert restart("dev-us-east-1", "web") == "ran"
        with pytest.raises(Denied, match="Split the change per region"):
            delete_env("prod-cn")
        with pytest.raises(ApprovalRequired) as needed:
            delete_namespace("prod-cn-north-1", "payments")
        rid = needed.value.request_id
        assert rid and rid.startswith("req_") and rid in str(needed.value)
        assert len(calls.runs) == 1
        assert bob.review(rid, "approve")["state"] == "approved"
        grant = agent.wait_for_grant(rid, timeout=5, poll=0.05)
        assert delete_namespace("prod-cn-north-1", "payments", grant=grant) == "ran"
        with pytest.raises(Denied, match="grant refused"):
            delete_namespace("prod-cn-north-1", "payments", grant=grant)
        assert calls.runs[-1] == ("prod-cn-north-1", "payments") and len(calls.runs) == 2


def test_a_grant_does_not_cover_a_different_call(service):
    calls = Calls()
    with Client(service.url, token("kiro-ops-7")) as agent, Client(service.url, token("bob")) as bob:
        _, _, delete_namespace = guarded_tools(Gate(client=agent), calls)
        with pytest.raises(ApprovalRequired) as needed:
            delete_namespace("prod-cn-north-1", "payments")
        bob.review(needed.value.request_id, "approve")
        grant = agent.wait_for_grant(needed.value.request_id, timeout=5, poll=0.05)
        with pytest.raises(Denied, match="different plan"):
            delete_namespace("prod-cn-north-1", "orders", grant=grant)
    assert calls.runs == []


def test_async_gate_with_async_client(service):
    calls = Calls()

    async def run():
        async with AsyncClient(service.url, token("kiro-ops-7")) as agent, \
                AsyncClient(service.url, token("bob")) as bob:
            gate = Gate(client=agent)

            @gate.guard(verb="delete", target="k8s:{context}:namespace:{namespace}")
            async def delete_namespace(context, namespace):
                return calls(context, namespace)

            with pytest.raises(ApprovalRequired) as needed:
                await delete_namespace("prod-cn-north-1", "orders")
            await bob.review(needed.value.request_id, "approve")
            grant = await agent.wait_for_grant(needed.value.request_id, timeout=5, poll=0.05)
            assert await delete_namespace("prod-cn-north-1", "orders", grant=grant) == "ran"
            with pytest.raises(Denied):
                await delete_namespace("prod-cn-north-1", "orders", grant=grant)
            assert (await gate.acheck([{"verb": "delete", "target": "env/prod-cn"}])).effect is Effect.DENY
            with pytest.raises(InputError, match="not async"):
                gate.guard(verb="read", target="x/{y}")(lambda y: y)
            with pytest.raises(InputError, match="acheck"):
                gate.check([{"verb": "read", "target": "x/y"}])
    asyncio.run(run())
    assert calls.runs == [("prod-cn-north-1", "orders")]


def test_an_unreachable_service_fails_closed():
    from blastwall.integrations.client import ServiceUnavailable
    calls = Calls()
    with Client("http://127.0.0.1:9", "x", timeout=1) as agent:
        restart, _, _ = guarded_tools(Gate(client=agent), calls)
        with pytest.raises(ServiceUnavailable):
            restart("dev-us-east-1", "web")
    assert calls.runs == []
