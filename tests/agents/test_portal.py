"""Agents in the portal: tools and agents deleted through their services (an agent with runs is
refused, and the page says why), a run started from the agent's page with one of its use case's
keys and the gateway's gate, and runs cancelled from the run list. Who opens which page is in
tests/access/test_portal.py."""

from __future__ import annotations

import pytest
from django.test import TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from lob_tenants.agents.models import Agent, AgentRun, Tool
from lob_tenants.agents.services import agent_run_create
from lob_tenants.models import ApiKey, UseCase
from tests.factories import AgentFactory, AliasFactory, ToolFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):  # role changes reload the policy after commit
        return service(**kwargs)


@pytest.fixture
def agent():
    return AgentFactory(use_case=UseCaseFactory(aliases=[AliasFactory(name="agent-model")]), slug="helper")


def member(client, agent, role: str):
    user = UserFactory(is_staff=True)
    committed(access_services.membership_set, lob=agent.lob, user=user, role=role)
    client.force_login(user)
    return user


def queued_run(agent, key: str) -> AgentRun:
    return agent_run_create(
        agent=agent, principal=key_principal(key), request_id="req_portal", messages=[{"role": "user", "content": "hi"}]
    )


def test_a_developer_deletes_a_tool_through_the_service(client, agent):
    user = member(client, agent, "lob_developer")
    tool = ToolFactory(lob=agent.lob, name="lookup")

    response = client.post(reverse("admin:agents_tool_delete", args=[tool.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Tool.objects.filter(pk=tool.pk).exists()
    assert AuditEvent.objects.get(action="tool.deleted", object_id=str(tool.pk)).actor == user.username


def test_an_agent_that_never_ran_is_deleted_through_the_service(client, agent):
    member(client, agent, "lob_developer")

    client.post(reverse("admin:agents_agent_delete", args=[agent.pk]), {"post": "yes"})

    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert AuditEvent.objects.filter(action="agent.deleted", object_id=str(agent.pk)).exists()


def test_an_agent_with_runs_is_kept_and_the_portal_lists_them(client, agent):
    member(client, agent, "lob_developer")
    queued_run(agent, issue_key(agent.use_case)[1])

    response = client.post(reverse("admin:agents_agent_delete", args=[agent.pk]), {"post": "yes"}, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Cannot delete agent" in page and "agent run" in page
    assert Agent.objects.filter(pk=agent.pk).exists()
    assert not AuditEvent.objects.filter(action="agent.deleted").exists()


def test_the_bulk_delete_of_agents_deletes_none_when_one_is_refused(client, agent):
    member(client, agent, "lob_developer")
    idle = AgentFactory(use_case=agent.use_case, slug="idle")
    queued_run(agent, issue_key(agent.use_case)[1])

    response = client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "delete_selected", "_selected_action": [agent.pk, idle.pk], "post": "yes"},
        follow=True,
    )

    assert "Cannot delete agents" in response.content.decode()
    assert Agent.objects.filter(pk__in=[agent.pk, idle.pk]).count() == 2


def test_a_developer_starts_a_run_with_a_key_of_the_use_case(client, agent):
    user = member(client, agent, "lob_developer")
    api_key, _ = issue_key(agent.use_case, environment=ApiKey.Environment.SANDBOX)

    response = client.post(
        reverse("admin:agents_agent_run", args=[agent.pk]),
        {"portal_form": "run", "api_key": api_key.pk, "input": "Say hello."},
    )

    run = AgentRun.objects.get(agent=agent)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:agents_agentrun_change", args=[run.pk])
    assert run.api_key == api_key and run.input == [{"role": "user", "content": "Say hello."}]
    assert run.status == AgentRun.Status.SUCCEEDED, run.error  # the embedded default runs it in-process
    started = AuditEvent.objects.get(action="agent_run.started", object_id=str(run.pk))
    assert started.actor == user.username and "Say hello" not in str(started.after)  # LOB data stays out


def test_the_gateways_gate_refuses_a_production_key_of_an_unapproved_use_case_on_the_key_field(client, agent):
    member(client, agent, "lob_developer")
    api_key, _ = issue_key(agent.use_case)
    UseCase.objects.filter(pk=agent.use_case.pk).update(status=UseCase.Status.DRAFT)
    agent.use_case.approvals.all().delete()

    response = client.post(
        reverse("admin:agents_agent_run", args=[agent.pk]),
        {"portal_form": "run", "api_key": api_key.pk, "input": "Say hello."},
    )

    assert response.status_code == 200
    assert "approv" in " ".join(response.context["sections"][0].form.errors["api_key"])
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize(
    ("field", "data", "message"),
    [
        ("input", {"input": "   "}, "This field is required."),
        ("api_key", {"api_key": "revoked"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_shown_on_its_field_and_nothing_is_written(client, agent, field, data, message):
    member(client, agent, "lob_developer")
    live, _ = issue_key(agent.use_case, environment=ApiKey.Environment.SANDBOX)
    revoked, _ = issue_key(agent.use_case, environment=ApiKey.Environment.SANDBOX)
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at="2026-01-01T00:00Z")
    form = {"portal_form": "run", "api_key": live.pk, "input": "Say hello.", **data}
    if form["api_key"] == "revoked":
        form["api_key"] = revoked.pk

    response = client.post(reverse("admin:agents_agent_run", args=[agent.pk]), form)

    assert response.status_code == 200
    assert message in " ".join(response.context["sections"][0].form.errors[field])
    assert not AgentRun.objects.exists()
    assert not AuditEvent.objects.filter(action="agent_run.started").exists()


def test_a_viewer_reads_the_run_page_but_cannot_start_a_run(client, agent):
    member(client, agent, "lob_viewer")
    api_key, _ = issue_key(agent.use_case, environment=ApiKey.Environment.SANDBOX)
    url = reverse("admin:agents_agent_run", args=[agent.pk])

    assert client.get(url).status_code == 200
    assert client.post(url, {"portal_form": "run", "api_key": api_key.pk, "input": "hi"}).status_code == 403
    assert not AgentRun.objects.exists()


def test_runs_are_cancelled_from_the_run_list_through_the_service(client, agent):
    user = member(client, agent, "lob_developer")
    run = queued_run(agent, issue_key(agent.use_case)[1])

    response = client.post(
        reverse("admin:agents_agentrun_changelist"), {"action": "cancel", "_selected_action": [run.pk]}, follow=True
    )

    assert "Asked 1 run(s) to stop" in response.content.decode()
    run.refresh_from_db()
    assert run.status == AgentRun.Status.CANCELLED
    assert AuditEvent.objects.get(action="agent_run.cancel_requested", object_id=str(run.pk)).actor == user.username


def test_another_lobs_agent_has_no_run_page(client, agent):
    other = AgentFactory()
    member(client, agent, "lob_admin")

    assert client.get(reverse("admin:agents_agent_run", args=[other.pk])).status_code == 404
