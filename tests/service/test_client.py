"""The SDK client against a real `blastwall serve` process."""
import asyncio

import pytest

from blastwall.integrations.client import AsyncClient, Client, RequestRefused, ServiceUnavailable
from tests.service.conftest import token

NS_DELETE = {"intent": "clean up", "argv": ["kubectl", "delete", "namespace", "payments", "--context", "prod-cn-north-1"]}




def test_propose_review_wait_redeem_report(service):
    with Client(service.url, token("kiro-ops-7")) as agent, Client(service.url, token("bob")) as bob:
        result = agent.propose(NS_DELETE)
        assert result.effect == "approve" and result.approval_request_id
        with pytest.raises(RequestRefused) as refused:
            agent.wait_for_grant(result.approval_request_id, timeout=0.2, poll=0.05)
        assert refused.value.status == 408
        assert bob.review(result.approval_request_id, "approve")["state"] == "approved"
        grant = agent.wait_for_grant(result.approval_request_id, timeout=5, poll=0.05)
        assert agent.redeem(grant, NS_DELETE)["redeemed"] is True
        with pytest.raises(RequestRefused) as again:
            agent.redeem(grant, NS_DELETE)
        assert again.value.status == 409
        assert agent.report_execution(result.proposal_id, {"status": "succeeded"})["recorded"] is True


def test_async_client_and_vetoed_wait(service):
    async def run():
        async with AsyncClient(service.url, token("kiro-ops-7")) as agent, AsyncClient(service.url, token("bob")) as bob:
            result = await agent.propose(NS_DELETE)
            await bob.review(result.approval_request_id, "deny")
            with pytest.raises(RequestRefused, match="vetoed"):
                await agent.wait_for_grant(result.approval_request_id, timeout=5, poll=0.05)
    asyncio.run(run())


def test_wrong_token_and_unreachable_service():
    with pytest.raises(ServiceUnavailable):
        Client("http://127.0.0.1:9", "x", timeout=1).propose(NS_DELETE)


def test_wrong_token_is_refused(service):
    with pytest.raises(RequestRefused) as err:
        Client(service.url, "nope").propose(NS_DELETE)
    assert err.value.status == 401
