"""No portal page shows a raw value: every changelist and change page of every admin registered on
the portal, opened by a LOB admin, a board member and a platform admin over a world with data in
every table, is scanned for what a person should never read (`None`, `[]`, `{}`, ISO timestamps,
amounts with six or more decimals, JSON dumps). Generated from `admin.site._registry`, so a page
added later is covered; a model with no row in the world fails, so none is skipped unnoticed."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from genai_platform.access import services as access_services
from genai_platform.access.notices import lob_notice_settings_set
from genai_platform.access.portal import PortalAdmin
from genai_platform.access.tokens import personal_token_issue
from genai_platform.demo.seed import demo_seed
from genai_platform.inference.principal import key_principal
from genai_platform.ledger.services import usage_flush
from genai_platform.metering.services import budget_set, rate_limit_set
from governance.models import CapturedExchange
from governance.services import workflow
from lob_tenants import services as tenant_services
from lob_tenants.agents.models import AgentRun
from lob_tenants.agents.services import agent_run_start, agent_save, tool_allowance_save, tool_save
from lob_tenants.models import ApiKey, UseCase
from lob_tenants.services import prompt_template_save
from tests.factories import LobFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db

#: What a person should never read on a page (outside form inputs and help texts).
RAW = {
    "None": re.compile(r"\bNone\b"),
    "an empty list": re.compile(r"\[\s*\]"),
    "an empty object": re.compile(r"\{\s*\}"),
    "an ISO timestamp": re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?"),
    "an amount with 6+ decimals": re.compile(r"\d\.\d{6,}"),
    "a JSON dump": re.compile(r"[\[{]\s*&quot;|[\[{]\s*\""),
}
#: What the scan leaves out: markup whose text is no value (scripts, styles, form inputs, help).
NOT_VALUES = re.compile(
    r"<(script|style|textarea|select|option)\b.*?</\1>|<div class=\"help\".*?</div>|<input\b[^>]*>",
    re.S,
)


#: Pages (by model) that still show raw values, and what they show: debts, not exceptions. The test
#: holds every other page to the rule today and fails when one of these is clean (then delete its line).
KNOWN_RAW: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


@pytest.fixture
def viewers(tmp_path):
    """The demo world (catalog, LOB, approved use case, key, grounded store) plus a row in every
    other table, and the three people who look at it."""
    world = committed(demo_seed, password_file=tmp_path / "password")
    platform_admin = get_user_model().objects.get(username=world.admin_username)  # also the demo LOB's admin
    use_case = UseCase.objects.get(slug=world.use_case_slug)
    lob = use_case.lob
    lob_admin, reviewer = UserFactory(is_staff=True), UserFactory(is_staff=True)
    committed(access_services.membership_set, lob=lob, user=lob_admin, role="lob_admin")
    committed(access_services.central_role_grant, user=reviewer, role="governance_reviewer", specialty="security")

    allowance = tool_allowance_save(endpoint_prefix="https://tools.example.com/", classifications=["public"])
    tool = tool_save(
        lob=lob,
        name="lookup",
        description="Finds things.",
        endpoint_url="https://tools.example.com/lookup",
        parameters={"type": "object", "properties": {}},
        actor=lob_admin,
    )
    assert allowance.pk and tool.pk
    agent = agent_save(
        lob=lob,
        slug="helper",
        use_case=use_case,
        alias=use_case.aliases.filter(name=world.chat_model).get(),
        instructions="Answer briefly.",
        actor=lob_admin,
    )
    principal = key_principal(issue_key(use_case, environment=ApiKey.Environment.SANDBOX)[1])
    with TestCase.captureOnCommitCallbacks(execute=True):
        agent_run_start(
            agent=agent, principal=principal, request_id="req_world", messages=[{"role": "user", "content": "Hi"}]
        )
    assert AgentRun.objects.filter(status=AgentRun.Status.SUCCEEDED).exists()
    usage_flush(consumer="test")
    template = prompt_template_save(
        lob=lob,
        name="greeting",
        template="Hello {{ name }}",
        variables=[{"name": "name", "type": "string"}],
        actor=lob_admin,
    )
    partner = UseCaseFactory(lob=LobFactory(slug="wealth", name="Wealth"), slug="advisor")
    committed(tenant_services.object_share, obj=template, owner_lob=lob, use_case=partner, actor=lob_admin)
    committed(
        access_services.break_glass_request,
        requester=reviewer,
        lob=lob,
        reason="A customer reports a leaked answer; I need to read the capture.",
        duration_minutes=30,
    )
    budget_set(lob=lob, monthly_limit_usd=50, actor=platform_admin)
    rate_limit_set(use_case=use_case, requests_per_minute=60, actor=platform_admin)
    lob_notice_settings_set(lob=lob, webhook_url="https://hooks.example.com/people", actor=lob_admin)
    personal_token_issue(
        user=platform_admin, name="pipeline", scope="read", expires_at=timezone.now() + dt.timedelta(days=30)
    )
    Group.objects.create(name="auditors")
    CapturedExchange.objects.create(
        request_id="req_captured",
        lob=lob,
        use_case=use_case,
        level="full",
        prompt="Hi",
        output="Hello",
        captured_at=timezone.now(),
    )
    workflow.use_case_material_change(use_case=use_case, actor=lob_admin, what="A new tool.")  # a review in progress
    return {"a LOB admin": lob_admin, "a board member": reviewer, "a platform admin": platform_admin}


def raw_values(page: str) -> list[str]:
    body = page[page.find('id="content"') :]
    text = NOT_VALUES.sub(" ", body)
    text = re.sub(r"<[^>]+>", " ", text)
    found = []
    for what, pattern in RAW.items():
        for match in pattern.finditer(text):
            context = " ".join(text[max(0, match.start() - 60) : match.end() + 40].split())
            found.append(f"{what}: …{context}…")
    return found


@cache
def portal_admins() -> list[tuple[str, PortalAdmin]]:
    return sorted(
        ((model._meta.label, model_admin) for model, model_admin in admin.site._registry.items()),
        key=lambda pair: pair[0],
    )


def test_every_portal_page_reads_as_words_and_numbers_for_every_role(viewers):
    problems: list[tuple[str, str]] = []
    listed, opened = set(), set()
    for who, user in viewers.items():
        client = Client()
        client.force_login(user)
        for label, model_admin in portal_admins():
            opts = model_admin.model._meta
            changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            response = client.get(changelist)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, f"{who}: {changelist} answered {response.status_code}"
            listed.add(label)
            problems += [(label, f"{who}, {changelist}: {p}") for p in raw_values(response.content.decode())]
            request = response.wsgi_request
            row = model_admin.get_queryset(request).order_by("-pk").first()
            if row is None:
                continue
            opened.add(label)
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
            response = client.get(change)
            assert response.status_code == 200, f"{who}: {change} answered {response.status_code}"
            problems += [(label, f"{who}, {change}: {p}") for p in raw_values(response.content.decode())]
    new = [problem for label, problem in problems if label not in KNOWN_RAW]
    assert not new, "raw values on portal pages:\n" + "\n".join(new)
    paid = set(KNOWN_RAW) - {label for label, _ in problems}
    assert not paid, f"these pages read as words now; delete them from KNOWN_RAW: {sorted(paid)}"
    assert listed == opened, f"the world has no row anyone may open in {sorted(listed - opened)}: add one"


def test_the_scan_catches_what_it_looks_for():
    """A guard on the guard: each raw pattern is found, form inputs and help texts are not scanned."""
    page = (
        '<div id="content"><p>None</p><td>[]</td><td>{}</td><td>2026-12-04 13:58:09.543754+00:00</td>'
        '<td>0.000800</td><td>{"team": "support"}</td>'
        '<textarea>{"a": []}</textarea><div class="help">e.g. [{"name": "x"}]</div></div>'
    )
    found = {problem.split(":")[0] for problem in raw_values(page)}
    assert found == set(RAW)
    assert raw_values('<div id="content"><textarea>None []</textarea><td>none</td></div>') == []
