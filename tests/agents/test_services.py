"""Registering tools and agents: the allow-list at attach time, the schema, the material change."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from genai_platform.audit.models import AuditEvent
from governance.models import Review
from governance.services.workflow import intake_save
from lob_tenants.agents.endpoints import endpoint_allowed
from lob_tenants.agents.services import agent_save, tool_allowance_save, tool_save
from lob_tenants.models import UseCase
from tests.factories import AliasFactory, LobFactory, ToolAllowanceFactory, ToolFactory, UseCaseFactory, UserFactory
from tests.governance.flows import LOW_RISK

pytestmark = pytest.mark.django_db


@pytest.fixture
def builder():
    return UserFactory(username="builder")


@pytest.fixture
def use_case(builder):
    use_case = UseCaseFactory(aliases=[AliasFactory()])
    intake_save(use_case=use_case, actor=builder, **LOW_RISK)
    return use_case


def save_agent(use_case, tools, actor, **extra):
    return agent_save(
        lob=use_case.lob,
        slug="helper",
        use_case=use_case,
        alias=use_case.aliases.get(),
        tools=tools,
        instructions="Help.",
        actor=actor,
        **extra,
    )


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://tools.example.com/crm", True),
        ("https://tools.example.com/crm/lookup", True),
        ("https://TOOLS.example.com:443/crm/lookup", True),
        ("https://tools.example.com/crm-admin", False),
        ("https://tools.example.com/", False),
        ("http://tools.example.com/crm/lookup", False),
        ("https://tools.example.com:8443/crm/lookup", False),
        ("https://tools.example.com.evil.net/crm/lookup", False),
        ("https://evil.net/https://tools.example.com/crm", False),
        ("https://tools.example.com@evil.net/crm", False),
        ("https://tools.example.com/crm/../admin", False),
    ],
)
def test_an_endpoint_is_allowed_by_scheme_host_port_and_path_prefix_never_by_substring(url, allowed):
    assert endpoint_allowed(url, ["https://tools.example.com/crm"]) is allowed


def test_a_tool_not_allow_listed_for_the_use_cases_data_is_refused_when_attached(use_case, builder):
    ToolAllowanceFactory(endpoint_prefix="https://tools.example.com", classifications=["public"])
    tool = ToolFactory(lob=use_case.lob, endpoint_url="https://tools.example.com/lookup")

    with pytest.raises(ValidationError, match="allow-list for internal data"):
        save_agent(use_case, [tool], builder)

    assert not use_case.agents.exists()


def test_attaching_a_tool_to_an_agent_of_an_approved_use_case_sends_it_back_to_review(use_case, builder):
    ToolAllowanceFactory(endpoint_prefix="https://tools.example.com", classifications=["internal"])
    tool = ToolFactory(lob=use_case.lob, endpoint_url="https://tools.example.com/lookup")
    agent = save_agent(use_case, [], builder)
    assert UseCase.objects.get(pk=use_case.pk).status == UseCase.Status.APPROVED  # no tool, no change

    save_agent(use_case, [tool], builder, agent=agent)

    assert UseCase.objects.get(pk=use_case.pk).status == UseCase.Status.SUBMITTED
    assert Review.objects.filter(use_case=use_case).exists()
    change = AuditEvent.objects.get(action="use_case.material_change")
    assert tool.name in change.after["changed"]
    assert AuditEvent.objects.filter(action="agent.updated", object_id=str(agent.pk)).exists()


def test_a_draft_use_case_gains_tools_without_a_review(builder):
    use_case = UseCaseFactory(status=UseCase.Status.DRAFT, aliases=[AliasFactory()])
    ToolAllowanceFactory(endpoint_prefix="https://tools.example.com", classifications=["internal"])

    save_agent(use_case, [ToolFactory(lob=use_case.lob, endpoint_url="https://tools.example.com/x")], builder)

    assert UseCase.objects.get(pk=use_case.pk).status == UseCase.Status.DRAFT


def test_an_agent_runs_on_a_model_of_its_use_case_and_under_a_use_case_of_its_lob(use_case, builder):
    with pytest.raises(ValidationError, match="not among the models"):
        agent_save(lob=use_case.lob, slug="a", use_case=use_case, alias=AliasFactory(), instructions="x")
    with pytest.raises(ValidationError, match="own line of business"):
        agent_save(lob=LobFactory(), slug="a", use_case=use_case, alias=use_case.aliases.get(), instructions="x")


def test_a_tool_of_another_lob_cannot_be_attached(use_case, builder):
    ToolAllowanceFactory(endpoint_prefix="https://tools.example.com", classifications=["internal"])

    with pytest.raises(ValidationError, match="another line of business"):
        save_agent(use_case, [ToolFactory(endpoint_url="https://tools.example.com/x")], builder)


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"parameters": {"type": "object", "properties": {"q": {"type": "strin"}}}}, "parameters"),
        ({"parameters": {"type": "array"}}, "parameters"),
        ({"endpoint_url": "ftp://tools.example.com/x"}, "endpoint_url"),
        ({"endpoint_url": "https://user:pw@tools.example.com/x"}, "endpoint_url"),
        ({"auth_credential_ref": "Bearer abc123"}, "auth_credential_ref"),
    ],
)
def test_a_tool_is_refused_with_a_bad_name_schema_endpoint_or_a_secret_in_place_of_a_reference(fields, complaint):
    base = {"name": "lookup", "parameters": {"type": "object"}, "endpoint_url": "https://tools.example.com/x"}

    with pytest.raises(ValidationError) as refused:
        tool_save(lob=LobFactory(), **{**base, **fields})

    assert complaint in refused.value.message_dict


def test_allow_list_changes_are_audited_centrally():
    allowance = tool_allowance_save(endpoint_prefix="https://tools.example.com/crm", classifications=["internal"])
    tool_allowance_save(allowance=allowance, endpoint_prefix=allowance.endpoint_prefix, classifications=["public"])

    events = AuditEvent.objects.filter(object_id=str(allowance.pk)).order_by("sequence")
    actions = list(events.values_list("action", "chain"))
    assert actions == [("tool_allowance.created", "central"), ("tool_allowance.updated", "central")]
