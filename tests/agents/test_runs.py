"""The plan-act loop: an agent with two tools against strict fake tool servers, step by step."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
from genai_platform.providers.types import ToolCall
from governance.services.workflow import intake_save
from lob_tenants.agents import services
from lob_tenants.agents.models import AgentRun, AgentStep
from lob_tenants.agents.runner import _Loop
from lob_tenants.agents.services import agent_run_create, agent_run_execute, agent_save, tool_save
from tests.agents.conftest import CUSTOMER_SCHEMA, TOKEN_VARIABLE, WEATHER_SCHEMA, tool_result
from tests.factories import AliasFactory, ToolAllowanceFactory, UseCaseFactory, UserFactory, issue_key
from tests.governance.flows import LOW_RISK

pytestmark = pytest.mark.django_db

ASK_BOTH = "Check lookup_customer customer_id=C42 and then weather city=Paris please"


@pytest.fixture
def use_case():
    use_case = UseCaseFactory(aliases=[AliasFactory(name="agent-model")])
    intake_save(use_case=use_case, actor="test", **LOW_RISK)
    return use_case


@pytest.fixture
def key(use_case):
    return issue_key(use_case)[1]


@pytest.fixture
def tools(use_case, crm_server, weather_server):
    for server in (crm_server, weather_server):
        ToolAllowanceFactory(endpoint_prefix=server.url, classifications=["internal"])
    lookup = tool_save(
        lob=use_case.lob,
        name="lookup_customer",
        description="Finds a customer.",
        parameters=CUSTOMER_SCHEMA,
        endpoint_url=crm_server.url + "/crm/lookup",
        auth_credential_ref=f"env:{TOKEN_VARIABLE}",
    )
    weather = tool_save(
        lob=use_case.lob,
        name="weather",
        description="Forecast for a city.",
        parameters=WEATHER_SCHEMA,
        endpoint_url=weather_server.url + "/weather",
    )
    return [lookup, weather]


@pytest.fixture
def agent(use_case, tools):
    return agent_save(
        lob=use_case.lob,
        slug="helper",
        use_case=use_case,
        alias=use_case.aliases.get(),
        tools=tools,
        instructions="Answer using the tools.",
        actor=UserFactory(username="builder"),
    )


def run_agent(agent, key: str, text: str, request_id: str = "req_test") -> AgentRun:
    run = agent_run_create(
        agent=agent, principal=key_principal(key), request_id=request_id, messages=[{"role": "user", "content": text}]
    )
    agent_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def steps_of(run: AgentRun) -> list[AgentStep]:
    return list(run.steps.order_by("index"))


def test_a_run_with_two_tools_completes_and_records_every_step(agent, key, crm_server, weather_server):
    run = run_agent(agent, key, ASK_BOTH)

    assert run.status == AgentRun.Status.SUCCEEDED, run.error
    assert [(s.kind, s.outcome) for s in steps_of(run)] == [
        ("model", "ok"),
        ("tool", "ok"),
        ("model", "ok"),
        ("tool", "ok"),
        ("model", "ok"),
    ]
    model_steps = [s for s in steps_of(run) if s.kind == "model"]
    assert all(s.input_tokens > 0 and s.output_tokens > 0 and s.cost > 0 for s in model_steps)
    assert run.input_tokens == sum(s.input_tokens for s in model_steps)
    assert run.cost == sum(s.cost for s in model_steps) > Decimal(0)
    lookup, weather = steps_of(run)[1], steps_of(run)[3]
    assert lookup.inputs["arguments"] == {"customer_id": "C42"}
    assert tool_result(lookup) == {"customer": "C42", "tier": "gold"}
    assert tool_result(weather) == {"city": "Paris", "forecast": "sunny"}
    assert '"tier": "gold"' in run.output and '"forecast": "sunny"' in run.output
    # The fake servers accepted exactly one well-formed call each, the CRM one with its token.
    assert [r.json() for r in crm_server.requests] == [{"customer_id": "C42"}]
    assert [r.json() for r in weather_server.requests] == [{"city": "Paris"}]


def test_the_secret_of_a_tool_is_sent_to_the_tool_and_recorded_nowhere(agent, key, crm_server):
    run = run_agent(agent, key, "lookup_customer customer_id=C7")

    assert crm_server.requests[0].headers["authorization"] == "Bearer tool-secret-123"
    recorded = json.dumps([[s.inputs, s.outputs, s.error] for s in steps_of(run)])
    assert "tool-secret-123" not in recorded
    assert not AuditEvent.objects.filter(after__icontains="tool-secret-123").exists()


def test_each_model_step_is_metered_like_a_gateway_call(agent, key):
    run = run_agent(agent, key, ASK_BOTH, request_id="req_metered")
    usage_flush(consumer="test")

    records = UsageRecord.objects.filter(request_id__startswith="req_metered.").order_by("request_id")
    model_steps = [s for s in steps_of(run) if s.kind == "model"]
    assert sorted(r.request_id for r in records) == sorted(s.usage_request_id for s in model_steps)
    assert {r.endpoint for r in records} == {"agent"} and {r.status for r in records} == {"success"}
    assert sum(r.cost for r in records) == run.cost
    assert all(r.use_case_id == agent.use_case_id for r in records)
    assert AuditEvent.objects.filter(action="inference.agent").count() == len(model_steps)


def test_the_step_limit_stops_the_run_before_calling_more_tools(agent, key, crm_server, weather_server):
    agent.max_steps = 2
    agent.save()

    run = run_agent(agent, key, ASK_BOTH)

    assert run.status == AgentRun.Status.STEP_LIMIT_REACHED
    assert [s.kind for s in steps_of(run)] == ["model", "tool", "model"]
    assert len(crm_server.requests) == 1 and not weather_server.requests


def test_the_token_limit_ends_the_run(agent, key):
    agent.max_tokens = 40
    agent.save()

    run = run_agent(agent, key, ASK_BOTH)

    assert run.status == AgentRun.Status.FAILED
    assert run.error_code == "token_limit_reached"


def test_a_tool_no_longer_allow_listed_is_refused_at_run_time_and_the_run_goes_on(
    agent, key, crm_server, weather_server
):
    from lob_tenants.agents.models import ToolAllowance

    ToolAllowance.objects.filter(endpoint_prefix=crm_server.url).delete()

    run = run_agent(agent, key, ASK_BOTH)

    assert run.status == AgentRun.Status.SUCCEEDED
    refused = steps_of(run)[1]
    assert (refused.kind, refused.outcome) == ("tool", "refused")
    assert "allow-list" in refused.error
    assert not crm_server.requests
    assert tool_result(steps_of(run)[3]) == {"city": "Paris", "forecast": "sunny"}
    assert "not on the central allow-list" in run.output


def test_arguments_that_break_the_schema_become_an_error_result_and_the_tool_is_not_called(agent, key, crm_server):
    run = run_agent(agent, key, "lookup_customer customer_id=nobody")

    assert run.status == AgentRun.Status.SUCCEEDED
    step = steps_of(run)[1]
    assert step.outcome == "error" and "schema" in step.error
    assert not crm_server.requests


def test_a_tool_the_agent_does_not_have_is_refused_and_recorded(agent, key):
    run = agent_run_create(
        agent=agent, principal=key_principal(key), request_id="req_x", messages=[{"role": "user", "content": "hi"}]
    )
    loop = _Loop(run, key_principal(key))

    result = loop._tool_step(ToolCall(id="call_1", name="delete_everything", arguments="{}"))

    [step] = steps_of(run)
    assert (step.kind, step.outcome) == ("tool", "refused")
    assert "not attached" in step.error
    assert result.role == "tool" and "not attached" in json.loads(result.content)["error"]


def test_a_tool_that_fails_gives_the_model_an_error_result(agent, key, crm_server):
    from tests.fakes.server import FakeResponse

    crm_server.fail_next(FakeResponse.json({"error": "down"}, status=503))

    run = run_agent(agent, key, "lookup_customer customer_id=C1")

    assert run.status == AgentRun.Status.SUCCEEDED
    step = steps_of(run)[1]
    assert step.outcome == "error" and step.outputs["status"] == 503
    assert "HTTP 503" in run.output


def test_a_run_is_executed_once_even_if_its_task_is_delivered_twice(agent, key, crm_server):
    run = run_agent(agent, key, "lookup_customer customer_id=C1")

    again = agent_run_execute(run_id=run.pk)

    assert again.status == AgentRun.Status.SUCCEEDED
    assert len(crm_server.requests) == 1


def test_a_run_whose_key_was_revoked_fails_without_calling_anything(agent, key, use_case, crm_server):
    from lob_tenants.services import api_key_revoke

    run = agent_run_create(
        agent=agent, principal=key_principal(key), request_id="req_r", messages=[{"role": "user", "content": "hi"}]
    )
    api_key_revoke(api_key=run.api_key)
    from django.core.cache import cache

    from genai_platform import hotcache

    cache.clear()
    hotcache.local_clear()

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == AgentRun.Status.FAILED and run.error_code == "invalid_api_key"
    assert not run.steps.exists()


def test_a_cancelled_run_does_not_start(agent, key, crm_server):
    run = agent_run_create(
        agent=agent, principal=key_principal(key), request_id="req_c", messages=[{"role": "user", "content": "hi"}]
    )
    services.agent_run_cancel(run=run)

    agent_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == AgentRun.Status.CANCELLED
    assert not run.steps.exists()
