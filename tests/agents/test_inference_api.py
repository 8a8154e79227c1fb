"""`/v1/agents/{id}/runs`: who may run an agent, synchronous runs with a deadline, asynchronous
runs with polling, and the OpenAI-style errors."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from genai_platform.access import services as access_services
from governance.services.workflow import intake_save
from lob_tenants.agents import services as agent_services
from lob_tenants.agents.models import AgentRun
from lob_tenants.agents.services import agent_save, agent_share, agent_unshare, tool_save
from lob_tenants.agents.tasks import execute_run
from lob_tenants.models import ApiKey, UseCase
from tests.agents.conftest import WEATHER_SCHEMA
from tests.factories import (
    AliasFactory,
    LobFactory,
    ToolAllowanceFactory,
    UseCaseFactory,
    UserFactory,
    issue_key,
)
from tests.governance.flows import LOW_RISK

pytestmark = pytest.mark.django_db
CLIENT = Client()


@pytest.fixture
def alias():
    return AliasFactory(name="agent-model")


@pytest.fixture
def lob_admin():
    return UserFactory(username="retail-admin")


@pytest.fixture
def use_case(alias, lob_admin):
    use_case = UseCaseFactory(lob=LobFactory(slug="retail"), aliases=[alias])
    intake_save(use_case=use_case, actor=lob_admin, **LOW_RISK)
    access_services.membership_set(lob=use_case.lob, user=lob_admin, role="lob_admin")
    from genai_platform.access.enforcer import policy_enforcer

    policy_enforcer().reload()
    return use_case


@pytest.fixture
def agent(use_case, weather_server, lob_admin):
    ToolAllowanceFactory(endpoint_prefix=weather_server.url, classifications=["internal"])
    weather = tool_save(
        lob=use_case.lob, name="weather", parameters=WEATHER_SCHEMA, endpoint_url=weather_server.url + "/weather"
    )
    return agent_save(
        lob=use_case.lob,
        slug="forecaster",
        use_case=use_case,
        alias=use_case.aliases.get(),
        tools=[weather],
        instructions="Tell the weather.",
        actor=lob_admin,
    )


@pytest.fixture
def key(use_case):
    return issue_key(use_case)[1]


@pytest.fixture
def partner(alias):
    """Another LOB's approved use case, with the same model among its own."""
    return UseCaseFactory(lob=LobFactory(slug="wealth"), aliases=[alias])


def post_run(key: str, agent_id: str, body: dict):
    return CLIENT.post(
        f"/v1/agents/{agent_id}/runs",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def get_run(key: str, agent_id: str, run_id: str):
    return CLIENT.get(f"/v1/agents/{agent_id}/runs/{run_id}", HTTP_AUTHORIZATION=f"Bearer {key}")


ASK = {"input": "What does weather city=Oslo say?", "wait": True, "timeout": 30}


@pytest.fixture
def queued_only(monkeypatch):
    """No worker: runs stay queued until the test executes them as the worker would."""
    enqueued: list[int] = []
    monkeypatch.setattr(agent_services, "agent_run_enqueue", lambda run: enqueued.append(run.pk))
    return enqueued


def test_a_synchronous_run_answers_with_the_finished_run_and_its_steps(agent, key):
    response = post_run(key, agent.public_id, ASK)

    assert response.status_code == 200, response.content
    run = response.json()
    assert run["object"] == "agent.run" and run["id"].startswith("run_") and run["agent_id"] == agent.public_id
    assert run["status"] == "succeeded"
    assert '"forecast": "sunny"' in run["output"]
    assert [(s["kind"], s["outcome"]) for s in run["steps"]] == [("model", "ok"), ("tool", "ok"), ("model", "ok")]
    assert run["usage"]["total_tokens"] > 0 and float(run["cost_usd"]) > 0
    assert run["request_id"] == response["x-request-id"]


def test_a_synchronous_run_still_going_at_the_deadline_is_answered_202(agent, key, queued_only):
    started = time.monotonic()
    response = post_run(key, agent.public_id, {**ASK, "timeout": 0.5})

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert 0.5 <= time.monotonic() - started < 10
    assert len(queued_only) == 1


def test_an_asynchronous_run_answers_at_once_and_is_polled_to_its_end(agent, key, queued_only):
    response = post_run(key, agent.public_id, {"input": "weather city=Rome", "wait": False})
    assert response.status_code == 202
    run_id = response.json()["id"]
    assert get_run(key, agent.public_id, run_id).json()["status"] == "queued"

    execute_run(queued_only[0])  # what the platform worker does

    polled = get_run(key, agent.public_id, run_id)
    assert polled.status_code == 200
    assert polled.json()["status"] == "succeeded"
    assert len(polled.json()["steps"]) == 3


def test_input_can_be_a_conversation(agent, key):
    body = {
        "input": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "weather city=Lima"},
        ],
        "wait": True,
    }

    response = post_run(key, agent.public_id, body)

    assert response.json()["status"] == "succeeded"
    assert response.json()["input"][-1] == {"role": "user", "content": "weather city=Lima"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": ""}, "input"),
        ({"input": "x", "wait": "yes"}, "wait"),
        ({"input": "x", "y": 1}, "y"),
        ({"input": []}, "input"),
        ({"input": [{"role": "system", "content": "obey"}]}, "input"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_parameter(agent, key, body, param):
    response = post_run(key, agent.public_id, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith(param)


def test_without_a_key_it_is_401(agent):
    response = CLIENT.post(f"/v1/agents/{agent.public_id}/runs", "{}", content_type="application/json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_api_key"


def test_another_lobs_use_case_cannot_run_the_agent_until_granted_and_not_after_revoking(
    agent, partner, lob_admin, key
):
    partner_key = issue_key(partner)[1]
    unknown = post_run(partner_key, "agt_000000000000000000000000", ASK)
    foreign = post_run(partner_key, agent.public_id, ASK)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"]["code"] == "agent_not_found"
    assert foreign.json()["error"]["message"].replace(agent.public_id, "X") == unknown.json()["error"][
        "message"
    ].replace("agt_000000000000000000000000", "X")

    agent_share(agent=agent, use_case=partner, actor=lob_admin)
    granted = post_run(partner_key, agent.public_id, ASK)
    assert granted.status_code == 200 and granted.json()["status"] == "succeeded"
    run = AgentRun.objects.get(public_id=granted.json()["id"])
    assert run.use_case == partner  # the caller's use case is the one metered
    # The owner's key does not read the partner's run, nor the partner the owner's.
    assert get_run(key, agent.public_id, run.public_id).status_code == 404

    agent_unshare(agent=agent, use_case=partner, actor=lob_admin)
    assert post_run(partner_key, agent.public_id, ASK).status_code == 404
    assert get_run(partner_key, agent.public_id, run.public_id).status_code == 404


def test_another_use_case_of_the_same_lob_needs_a_grant_too(agent, use_case, alias):
    sibling = UseCaseFactory(lob=use_case.lob, aliases=[alias])

    assert post_run(issue_key(sibling)[1], agent.public_id, ASK).status_code == 404


def test_a_production_key_needs_the_use_case_approved(agent, use_case):
    UseCase.objects.filter(pk=use_case.pk).update(status=UseCase.Status.DRAFT)
    from governance.models import Approval

    Approval.objects.filter(use_case=use_case).update(status=Approval.Status.RETIRED)
    key = issue_key(use_case)[1]

    response = post_run(key, agent.public_id, ASK)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "use_case_not_approved"
    assert not AgentRun.objects.exists()


def test_a_sandbox_key_runs_the_agent_before_approval(agent, use_case):
    key = issue_key(use_case, ApiKey.Environment.SANDBOX)[1]

    assert post_run(key, agent.public_id, ASK).json()["status"] == "succeeded"


def test_a_running_run_can_be_cancelled(agent, key, queued_only):
    run_id = post_run(key, agent.public_id, {"input": "weather city=Oslo"}).json()["id"]

    response = CLIENT.post(
        f"/v1/agents/{agent.public_id}/runs/{run_id}/cancel",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    execute_run(queued_only[0])
    assert get_run(key, agent.public_id, run_id).json()["status"] == "cancelled"
