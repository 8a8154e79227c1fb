"""The self-service portal (the Django admin) under one guard: every registered admin page, for every
role, on a row of the user's own LOB and of another LOB; then the portal's own workflows.

The pages come from the admin site's registry and each admin's URLs, so a newly registered model
or page is checked without anyone remembering to add it, and fails until it is classified below.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from genai_platform.access import services as access_services
from genai_platform.access.models import BreakGlassRequest, LobNoticeSettings, PeopleNotice
from genai_platform.access.portal import PortalAdmin
from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_record
from genai_platform.demo.seed import demo_seed
from genai_platform.inference.principal import key_principal
from genai_platform.metering.models import UsageRecord
from genai_platform.metering.rollups import usage_rollups_add_records
from genai_platform.metering.services import budget_set, rate_limit_set
from governance.models import CapturedExchange
from lob_tenants import services as tenant_services
from lob_tenants.keys import key_parse
from lob_tenants.models import ApiKey, Lob, Membership, PromptTemplate, UseCase
from tests.factories import (
    AgentFactory,
    AliasFactory,
    CatalogModelFactory,
    DeploymentFactory,
    LobFactory,
    PromptTemplateFactory,
    ProviderAccountFactory,
    ToolAllowanceFactory,
    ToolFactory,
    UseCaseFactory,
    UserFactory,
    issue_key,
    vector_store,
)

pytestmark = pytest.mark.django_db

ROLES = ("platform_admin", "governance_reviewer", "lob_admin", "lob_developer", "lob_viewer", "no_role", "superuser")
LOB_ROLES = ("lob_admin", "lob_developer", "lob_viewer")
OWN, OTHER = "own", "other"


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """The admin pages link static files; tests do not run collectstatic to build the manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def committed(service, **kwargs):
    """Role changes reload the policy after commit: run the commit hooks as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


def person(role: str, lob: Lob | None = None, **extra: Any):
    """A staff user (so they can log in) whose rights come only from `role`."""
    user = UserFactory(is_staff=True, is_superuser=role == "superuser", **extra)
    if role in LOB_ROLES:
        committed(access_services.membership_set, lob=lob, user=user, role=role)
    elif role == "governance_reviewer":
        committed(access_services.central_role_grant, user=user, role=role, specialty="security")
    elif role == "platform_admin":
        committed(access_services.central_role_grant, user=user, role=role)
    return user


# ---- what each role may do, model by model ----


@dataclass(frozen=True)
class Rights:
    """`v`iew, `a`dd, `c`hange, `d`elete, or a custom page's letter (`r`: ask for break-glass).
    `members`: rights of a role held in the row's own LOB.
    `central`: rights over every row, whatever its LOB (for a central model, over its rows)."""

    lob_owned: bool
    members: Mapping[str, str] = field(default_factory=dict)
    central: Mapping[str, str] = field(default_factory=dict)

    def on(self, role: str, target: str) -> str:
        if role in self.central:
            return self.central[role]
        return self.members.get(role, "") if target == OWN else ""


def lob_owned(central: Mapping[str, str] | None = None, **members: str) -> Rights:
    return Rights(lob_owned=True, members=members, central=central or {})


def central(**roles: str) -> Rights:
    return Rights(lob_owned=False, central=roles)


CATALOG = central(platform_admin="vacd", superuser="vacd", governance_reviewer="v")
RIGHTS: dict[str, Rights] = {
    "lob_tenants.usecase": lob_owned(lob_admin="vac", lob_developer="vac", lob_viewer="v"),
    "lob_tenants.apikey": lob_owned(lob_admin="va", lob_developer="va", lob_viewer="v"),
    "lob_tenants.prompttemplate": lob_owned(lob_admin="vac", lob_developer="vac"),
    "lob_tenants.membership": lob_owned(lob_admin="vacd", lob_developer="v", lob_viewer="v"),
    "metering.usagerecord": lob_owned(
        {"platform_admin": "v", "superuser": "v"}, lob_admin="v", lob_developer="v", lob_viewer="v"
    ),
    "governance.capturedexchange": lob_owned(lob_admin="v", lob_developer="v"),
    "lob_tenants.lob": central(platform_admin="vac", superuser="vac"),
    "metering.budget": central(platform_admin="vac", superuser="vac"),
    "metering.ratelimit": central(platform_admin="vac", superuser="vac"),
    "audit.auditevent": central(platform_admin="v", governance_reviewer="v", superuser="v"),
    "governance.review": lob_owned({"governance_reviewer": "v", "superuser": "v"}),
    "governance.guardrailpolicyversion": central(platform_admin="v", superuser="v"),
    "governance.guardrailpolicyrecord": central(platform_admin="vac", superuser="vac"),
    "governance.modelapproval": central(platform_admin="vac", superuser="vac", governance_reviewer="v"),
    "model_catalog.provideraccount": CATALOG,
    "model_catalog.catalogmodel": CATALOG,
    "model_catalog.deployment": CATALOG,
    "model_catalog.alias": CATALOG,
    "access.centralroleassignment": central(superuser="vac"),
    "access.policyrule": central(superuser="vad"),
    "lob_tenants.prompttemplategroupobjectpermission": lob_owned(lob_admin="vad", lob_developer="v", lob_viewer="v"),
    "access.breakglassrequest": lob_owned({"platform_admin": "vr", "superuser": "vr"}, lob_admin="v"),
    "auth.user": central(superuser="vacd"),
    "access.peoplenotice": lob_owned(lob_admin="v", lob_developer="v", lob_viewer="v"),
    "access.lobnoticesettings": lob_owned(lob_admin="vac", lob_developer="v", lob_viewer="v"),
    "auth.group": central(superuser="vacd"),
    "agents.toolallowance": central(platform_admin="vacd", superuser="vacd", governance_reviewer="v"),
    "agents.tool": lob_owned(lob_admin="vacd", lob_developer="vacd", lob_viewer="v"),
    "agents.agent": lob_owned(lob_admin="vacd", lob_developer="vacd", lob_viewer="v"),
    "agents.agentrun": lob_owned(lob_admin="v", lob_developer="v"),
    "vector_stores.vectorstore": lob_owned(lob_admin="vad", lob_developer="vad", lob_viewer="v"),
    "vector_stores.document": lob_owned(lob_admin="vd", lob_developer="vd", lob_viewer="v"),
    "vector_stores.ingestionjob": lob_owned(lob_admin="v", lob_developer="v", lob_viewer="v"),
}


def _usage(lob: Lob) -> UsageRecord:
    record = UsageRecord.objects.create(
        request_id=f"req_{lob.slug}",
        occurred_at=timezone.now(),
        lob=lob,
        use_case=_use_case(lob),
        endpoint="chat",
        alias="chat",
        status=UsageRecord.Status.SUCCESS,
        cost=Decimal("0.01"),
    )
    usage_rollups_add_records([record])  # as the flusher does: reports read the daily rollups
    return record


def _agent(lob: Lob) -> Any:
    return AgentFactory(lob=lob, use_case=_use_case(lob), alias=AliasFactory(), slug=f"{lob.slug}-helper")


def _agent_run(lob: Lob) -> Any:
    from lob_tenants.agents.models import AgentRun

    agent = _agent(lob)
    return AgentRun.objects.create(
        agent=agent,
        use_case=agent.use_case,
        request_id=f"req_{lob.slug}",
        input=[{"role": "user", "content": "hi"}],
        deadline_at=timezone.now(),
    )


def _vector_store(lob: Lob) -> Any:
    return vector_store(lob, slug=f"{lob.slug}-docs")


def _ingestion_job(lob: Lob) -> Any:
    from lob_tenants.vector_stores.models import IngestionJob

    return IngestionJob.objects.create(store=_vector_store(lob), status="succeeded", documents_total=1)


def _document(lob: Lob) -> Any:
    from lob_tenants.vector_stores.models import Document

    return Document.objects.create(
        store=_vector_store(lob), external_id=f"{lob.slug}-handbook", content_type="text/plain", sha256="0" * 64
    )


def _use_case(lob: Lob) -> UseCase:
    return UseCaseFactory(lob=lob, slug=f"{lob.slug}-assistant", status=UseCase.Status.DRAFT)


def _captured(lob: Lob) -> CapturedExchange:
    return CapturedExchange.objects.create(
        request_id=f"req_{lob.slug}",
        lob=lob,
        use_case=_use_case(lob),
        level="full",
        prompt="the prompt",
        output="the answer",
        captured_at=timezone.now(),
    )


def model_approval_set(**kwargs: Any) -> Any:
    from governance.services.workflow import model_approval_set as service

    return service(**kwargs)


def _guardrail_version() -> Any:
    from governance.services.guardrail_policies import central_baseline_install

    return committed(central_baseline_install, actor="test")


def _review(lob: Lob) -> Any:
    from governance.services.workflow import intake_save, use_case_submit
    from tests.governance.flows import LOW_RISK

    use_case = UseCaseFactory(
        lob=lob, slug=f"{lob.slug}-assistant", status=UseCase.Status.DRAFT, aliases=[AliasFactory()]
    )
    submitter = UserFactory()
    intake_save(use_case=use_case, actor=submitter, **LOW_RISK)
    return use_case_submit(use_case=use_case, actor=submitter)


def _member(lob: Lob) -> Membership:
    return committed(access_services.membership_set, lob=lob, user=UserFactory(), role="lob_viewer")


def _grant(lob: Lob) -> Any:
    """A grant on one of `lob`'s prompt templates to a use case of a LOB of its own."""
    from lob_tenants.models import PromptTemplateGroupObjectPermission

    template = PromptTemplate.objects.create(lob=lob, name="greeting", template="Hi")
    partner = UseCaseFactory(lob=LobFactory(), slug="partner-app")
    tenant_services.object_share(obj=template, owner_lob=lob, use_case=partner, actor=person("lob_admin", lob))
    return PromptTemplateGroupObjectPermission.objects.get(content_object=template)


#: One row of each registered model, in the LOB given (central models ignore it or use it as a scope).
SAMPLES: dict[str, Callable[[Lob], Any]] = {
    "lob_tenants.usecase": _use_case,
    "lob_tenants.apikey": lambda lob: issue_key(_use_case(lob), ApiKey.Environment.SANDBOX)[0],
    "lob_tenants.prompttemplate": lambda lob: PromptTemplate.objects.create(lob=lob, name="greeting", template="Hi"),
    "lob_tenants.membership": _member,
    "metering.usagerecord": _usage,
    "governance.capturedexchange": lambda lob: _captured(lob),
    "lob_tenants.lob": lambda lob: lob,
    "metering.budget": lambda lob: budget_set(lob=lob, monthly_limit_usd=Decimal("100")),
    "metering.ratelimit": lambda lob: rate_limit_set(lob=lob, requests_per_minute=60),
    "audit.auditevent": lambda lob: audit_record(
        actor="test", action="test.event", object_type="thing", object_id="1", lob_slug=lob.slug
    ),
    "governance.guardrailpolicyversion": lambda lob: _guardrail_version(),
    "governance.guardrailpolicyrecord": lambda lob: _guardrail_version().policy,
    "governance.modelapproval": lambda lob: committed(
        model_approval_set, alias=AliasFactory(), classifications=["internal"], actor="test"
    ),
    "governance.review": _review,
    "model_catalog.provideraccount": lambda lob: ProviderAccountFactory(),
    "model_catalog.catalogmodel": lambda lob: CatalogModelFactory(),
    "model_catalog.deployment": lambda lob: DeploymentFactory(),
    "model_catalog.alias": lambda lob: AliasFactory(),
    "access.centralroleassignment": lambda lob: committed(
        access_services.central_role_grant, user=UserFactory(), role="platform_admin"
    ),
    "access.policyrule": lambda lob: committed(
        access_services.policy_rule_add, role="lob_viewer", domain="*", obj="nothing_yet", act="read"
    ),
    "lob_tenants.prompttemplategroupobjectpermission": _grant,
    "access.breakglassrequest": lambda lob: access_services.break_glass_request(
        requester=person("platform_admin"), lob=lob, reason="Incident INC-1: a customer complaint", duration_minutes=30
    ),
    "auth.user": lambda lob: UserFactory(),
    "access.peoplenotice": lambda lob: PeopleNotice.objects.create(
        lob=lob, occurred_at=timezone.now(), actor="root", action="user.deactivated", subject=f"{lob.slug}-dev"
    ),
    "access.lobnoticesettings": lambda lob: LobNoticeSettings.objects.create(lob=lob, webhook_url=""),
    "auth.group": lambda lob: Group.objects.create(name="some group"),
    "agents.toolallowance": lambda lob: ToolAllowanceFactory(),
    "agents.tool": lambda lob: ToolFactory(lob=lob),
    "agents.agent": lambda lob: _agent(lob),
    "agents.agentrun": lambda lob: _agent_run(lob),
    "vector_stores.vectorstore": _vector_store,
    "vector_stores.document": _document,
    "vector_stores.ingestionjob": _ingestion_job,
}

#: Admin pages beyond Django's five, with what they need: a list page needs `v`, an object page the right named.
STANDARD_PAGES = {"changelist": "list", "add": "list", "change": "object", "delete": "object", "history": "object"}
CUSTOM_PAGES: dict[str, tuple[str, str]] = {
    "metering_usagerecord_spend": ("list", "v"),
    "governance_guardrailpolicyversion_diff": ("object", "v"),
    "auth_user_password_change": ("object", "c"),
    "vector_stores_vectorstore_upload": ("object", "a"),
    "lob_tenants_usecase_intake": ("object", "v"),
    "lob_tenants_usecase_governance": ("object", "v"),
    "governance_review_suspend": ("object", "v"),
    "governance_review_reinstate": ("object", "v"),
    "access_breakglassrequest_request": ("list", "r"),
    "lob_tenants_apikey_scopes": ("object", "v"),  # read by a viewer; posting needs write
    "agents_agent_run": ("object", "v"),  # read by a viewer; posting needs write
    "vector_stores_vectorstore_links": ("object", "v"),  # read by a viewer; each form needs its write
}


#: Pages of a person's own things, whatever their roles (tested in tests/access/test_personal_tokens.py).
PERSONAL_PAGES = frozenset({"access.personalapitoken"})


def registered() -> dict[str, admin.ModelAdmin]:
    """Every policy-guarded admin (the personal pages are each person's own, not the policy's)."""
    return {
        model._meta.label_lower: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.label_lower not in PERSONAL_PAGES
    }


@dataclass(frozen=True)
class Page:
    url_name: str
    kind: str  # changelist, add, change, delete, history, or a custom page's url name
    takes_object: bool
    needs: str


def pages_of(model_admin: admin.ModelAdmin) -> list[Page]:
    prefix = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}_"
    pages = []
    for pattern in model_admin.get_urls():
        if pattern.name is None:  # Django's redirect of a bare object URL to its change page
            continue
        suffix = pattern.name.removeprefix(prefix)
        if suffix in STANDARD_PAGES:
            pages.append(Page(pattern.name, suffix, STANDARD_PAGES[suffix] == "object", suffix[0]))
        elif pattern.name in CUSTOM_PAGES:
            where, needs = CUSTOM_PAGES[pattern.name]
            pages.append(Page(pattern.name, pattern.name, where == "object", needs))
        else:
            pytest.fail(f"unclassified admin page {pattern.name!r}: add it to CUSTOM_PAGES with what it needs")
    return pages


def expected_status(rights: Rights, role: str, page: Page, target: str) -> int:
    """What Django's admin answers, as the portal's guard decides: a row outside the user's LOBs is
    a 404 like an unknown id; no right to the model at all is a 403."""
    own, here = rights.on(role, OWN), rights.on(role, target)
    if page.kind == "changelist":
        return 200 if "v" in own else 403
    if page.kind == "add":
        return 200 if "a" in own else 403
    if not page.takes_object:
        return 200 if page.needs in own else 403
    if not ({"v", "c"} & set(own)):
        return 403
    if not here:
        return 404
    if page.kind in ("change", "history"):
        return 200
    return 200 if page.needs in here else 403


def _params() -> list[tuple[str, str]]:
    return [(label, role) for label in sorted(registered()) for role in ROLES]


@pytest.fixture
def retail():
    return LobFactory(slug="retail", name="Retail Banking")


@pytest.fixture
def wealth():
    return LobFactory(slug="wealth", name="Wealth Management")


def rights_of(label: str) -> Rights:
    if label not in RIGHTS or label not in SAMPLES:
        pytest.fail(f"unclassified admin model {label!r}: add its RIGHTS and a SAMPLES row")
    return RIGHTS[label]


# ---- the registry is covered ----


def test_every_registered_model_is_classified_and_guarded_by_the_portal():
    admins = registered()

    assert set(admins) == set(RIGHTS) == set(SAMPLES)
    for label, model_admin in admins.items():
        assert isinstance(model_admin, PortalAdmin), f"{label} is not a PortalAdmin"
        assert bool(model_admin.lob_path) == RIGHTS[label].lob_owned, label
        for method in ("has_view_permission", "has_add_permission", "has_change_permission", "has_delete_permission"):
            assert getattr(type(model_admin), method) is getattr(PortalAdmin, method), f"{label} overrides {method}"
        assert type(model_admin).get_queryset is PortalAdmin.get_queryset, f"{label} overrides get_queryset"
        pages_of(model_admin)  # fails on an unclassified page


@pytest.mark.parametrize(("label", "role"), _params())
def test_each_role_opens_exactly_the_pages_its_policy_allows(client, retail, wealth, label, role):
    rights, model_admin = rights_of(label), registered()[label]
    rows = {OWN: SAMPLES[label](retail)}
    if rights.lob_owned:
        rows[OTHER] = SAMPLES[label](wealth)
    client.force_login(person(role, retail))

    wrong = []
    for page in pages_of(model_admin):
        for target, row in rows.items() if page.takes_object else [(OWN, None)]:
            url = reverse(f"admin:{page.url_name}", args=[row.pk] if page.takes_object else [])
            expected, got = expected_status(rights, role, page, target), client.get(url).status_code
            if got != expected:
                wrong.append(f"{page.kind} {target}: {got}, expected {expected} ({url})")

    assert not wrong, f"{role} on {label}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("label", "role"), [(label, role) for label, role in _params() if "v" in RIGHTS.get(label, central()).on(role, OWN)]
)
def test_a_list_shows_no_row_count_or_filter_value_of_a_lob_the_role_may_not_see(client, retail, wealth, label, role):
    rights, model_admin = rights_of(label), registered()[label]
    own = SAMPLES[label](retail)
    other = SAMPLES[label](wealth) if rights.lob_owned else None
    client.force_login(person(role, retail))

    response = client.get(
        reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist"), {"_facets": "True"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert _change_url(own) in page
    if other is None:
        return
    sees_every_lob = role in rights.central
    assert (_change_url(other) in page) == sees_every_lob
    assert ("Wealth Management" in page) == sees_every_lob
    visible_lobs = [retail, wealth] if sees_every_lob else [retail]
    model = type(own)
    expected_count = model.objects.filter(**{f"{model_admin.lob_path}__in": visible_lobs}).count()
    changelist = response.context["cl"]
    assert changelist.result_count == expected_count
    assert changelist.full_result_count in (None, expected_count)


def _change_url(obj: Any) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_a_portal_admin_that_declares_no_policy_object_fails_the_system_check():
    class Undeclared(PortalAdmin):
        lob_path = "use_case"

    errors = Undeclared(ApiKey, admin.site).check()

    assert {error.id for error in errors} >= {"access.E001", "access.E002"}


# ---- the index ----


def test_the_index_lists_only_what_the_role_may_open(client, retail):
    client.force_login(person("lob_viewer", retail))

    page = client.get(reverse("admin:index")).content.decode()

    assert "/admin/lob_tenants/usecase/" in page and "/admin/lob_tenants/apikey/" in page
    assert "/admin/lob_tenants/membership/" in page and "/admin/metering/usagerecord/" in page
    for hidden in ("/admin/lob_tenants/lob/", "/admin/model_catalog/", "/admin/governance/", "/admin/auth/"):
        assert hidden not in page
    assert "/admin/lob_tenants/prompttemplate/" not in page  # LOB data: not for viewers


def test_a_staff_user_without_a_role_sees_nothing(client):
    client.force_login(person("no_role"))

    page = client.get(reverse("admin:index")).content.decode()

    assert "have permission to view or edit anything" in page


# ---- use cases ----


def test_a_lob_admin_registers_a_draft_use_case_through_the_service(client, retail):
    lob_admin = person("lob_admin", retail)
    sandbox_alias, production_only = AliasFactory(name="chat-small"), AliasFactory(name="chat-large")
    client.force_login(lob_admin)

    response = client.post(
        reverse("admin:lob_tenants_usecase_add"),
        {
            "lob": retail.pk,
            "slug": "claims-triage",
            "name": "Claims triage",
            "description": "Sorts claims.",
            "aliases": [sandbox_alias.pk],
        },
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    use_case = UseCase.objects.get(lob=retail, slug="claims-triage")
    assert use_case.status == UseCase.Status.DRAFT
    assert list(use_case.aliases.all()) == [sandbox_alias]
    assert production_only not in use_case.aliases.all()
    event = AuditEvent.objects.get(action="use_case.created", object_id=str(use_case.pk))
    assert event.actor == lob_admin.username and event.lob_slug == "retail"


def test_the_use_case_form_offers_only_lobs_where_the_user_may_write(client, retail, wealth):
    user = person("lob_admin", retail)
    committed(access_services.membership_set, lob=wealth, user=user, role="lob_viewer")
    LobFactory(slug="markets", name="Markets")
    client.force_login(user)

    form = client.get(reverse("admin:lob_tenants_usecase_add")).context["adminform"].form

    assert list(form.fields["lob"].queryset) == [retail]


def test_a_use_case_posted_into_a_foreign_lob_is_refused(client, retail, wealth):
    client.force_login(person("lob_developer", retail))

    response = client.post(
        reverse("admin:lob_tenants_usecase_add"), {"lob": wealth.pk, "slug": "intruder", "name": "Intruder"}
    )

    assert response.status_code == 200  # the form again, with its error
    assert "Select a valid choice" in response.content.decode()
    assert not UseCase.objects.filter(slug="intruder").exists()


def test_a_use_case_keeps_its_lob_and_status_when_edited(client, retail):
    use_case = _use_case(retail)
    client.force_login(person("lob_developer", retail))

    response = client.post(_change_url(use_case), {"name": "Renamed", "description": "New words", "status": "approved"})

    assert response.status_code == 302
    use_case.refresh_from_db()
    assert (use_case.name, use_case.status, use_case.lob) == ("Renamed", UseCase.Status.DRAFT, retail)


# ---- prompt templates ----

GREETING_VARIABLES = '[{"name": "customer", "type": "string"}]'


def test_changing_a_template_in_the_portal_saves_the_next_version_and_keeps_the_old_one(client, retail):
    first = PromptTemplateFactory(
        lob=retail, name="greeting", template="Hi {{ customer }}.", variables=[{"name": "customer", "type": "string"}]
    )
    client.force_login(person("lob_developer", retail))

    response = client.post(
        _change_url(first), {"template": "Good day, {{ customer }}.", "variables": GREETING_VARIABLES}
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    first.refresh_from_db()
    assert first.template == "Hi {{ customer }}."
    second = PromptTemplate.objects.get(lob=retail, name="greeting", version=2)
    assert second.template == "Good day, {{ customer }}."
    assert response["Location"] == _change_url(second)
    assert AuditEvent.objects.filter(action="prompt_template.saved", object_id=str(second.pk)).exists()


def test_a_template_using_an_undeclared_variable_is_refused_on_the_portal_form(client, retail):
    client.force_login(person("lob_developer", retail))

    response = client.post(
        reverse("admin:lob_tenants_prompttemplate_add"),
        {
            "lob": retail.pk,
            "name": "greeting",
            "template": "Hi {{ customer }} at {{ branch }}.",
            "variables": GREETING_VARIABLES,
        },
    )

    assert response.status_code == 200  # the form again, with its error
    assert "uses the variable &#x27;branch&#x27;, which is not declared" in response.content.decode()
    assert not PromptTemplate.objects.filter(lob=retail).exists()


def test_a_use_case_pins_only_versions_it_may_read_in_the_portal(client, retail, wealth):
    use_case = _use_case(retail)
    own = PromptTemplateFactory(lob=retail, name="greeting")
    theirs = PromptTemplateFactory(lob=wealth, name="greeting")
    client.force_login(person("lob_developer", retail))

    form = client.get(_change_url(use_case)).context["adminform"].form
    response = client.post(_change_url(use_case), {"name": use_case.name, "prompt_template": own.pk})

    assert list(form.fields["prompt_template"].queryset) == [own]
    assert theirs not in form.fields["prompt_template"].queryset
    assert response.status_code == 302, response.content.decode()[-2000:]
    use_case.refresh_from_db()
    assert use_case.prompt_template == own
    assert AuditEvent.objects.filter(action="use_case.prompt_pinned", object_id=str(use_case.pk)).exists()


# ---- API keys ----


def _issue(client, use_case: UseCase, **fields: Any):
    data = {"use_case": use_case.pk, "name": "ci key", "environment": "sandbox", **fields}
    return client.post(reverse("admin:lob_tenants_apikey_add"), data)


def test_an_issued_key_is_shown_once_on_the_page_that_follows_and_never_again(client, retail):
    use_case = _use_case(retail)
    client.force_login(person("lob_developer", retail))

    response = _issue(client, use_case)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    plaintext = re.search(r'id="issued-key">(sk-gp-[^<]+)</code>', response.content.decode()).group(1)
    principal = key_principal(plaintext)
    assert principal is not None and principal.use_case_id == use_case.pk and not principal.is_production
    api_key = ApiKey.objects.get(prefix=key_parse(plaintext)[0])
    for url in (_change_url(api_key), reverse("admin:lob_tenants_apikey_changelist")):
        page = client.get(url).content.decode()
        assert api_key.prefix in page
        assert plaintext not in page and key_parse(plaintext)[1] not in page
        assert api_key.secret_hash not in page


def test_a_key_cannot_be_issued_for_a_use_case_of_a_lob_where_the_role_only_reads(client, retail, wealth):
    user = person("lob_admin", retail)
    committed(access_services.membership_set, lob=wealth, user=user, role="lob_viewer")
    client.force_login(user)

    response = _issue(client, _use_case(wealth))

    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_rotating_shows_the_successor_once_and_keeps_the_old_key_for_an_hour(client, retail):
    old, _ = issue_key(_use_case(retail), ApiKey.Environment.SANDBOX)
    client.force_login(person("lob_admin", retail))

    response = client.post(
        reverse("admin:lob_tenants_apikey_changelist"), {"action": "rotate", "_selected_action": [old.pk]}
    )

    assert response.status_code == 200
    plaintext = re.search(r'id="issued-key">(sk-gp-[^<]+)</code>', response.content.decode()).group(1)
    successor = ApiKey.objects.get(prefix=key_parse(plaintext)[0])
    assert successor.rotated_from == old
    old.refresh_from_db()
    assert timezone.now() + dt.timedelta(minutes=59) < old.expires_at <= timezone.now() + dt.timedelta(hours=1)


def test_revoking_from_the_list_revokes_only_the_keys_the_role_may_write(client, retail, wealth):
    user = person("lob_admin", retail)
    committed(access_services.membership_set, lob=wealth, user=user, role="lob_viewer")
    mine, _ = issue_key(_use_case(retail))
    theirs, _ = issue_key(_use_case(wealth))
    client.force_login(user)

    client.post(
        reverse("admin:lob_tenants_apikey_changelist"), {"action": "revoke", "_selected_action": [mine.pk, theirs.pk]}
    )

    mine.refresh_from_db(), theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None


def test_a_viewer_is_offered_no_key_actions_and_cannot_post_one(client, retail):
    api_key, _ = issue_key(_use_case(retail))
    client.force_login(person("lob_viewer", retail))

    listing = client.get(reverse("admin:lob_tenants_apikey_changelist"))
    client.post(reverse("admin:lob_tenants_apikey_changelist"), {"action": "revoke", "_selected_action": [api_key.pk]})

    assert 'name="action"' not in listing.content.decode()
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


# ---- members ----


def test_a_lob_admin_adds_a_member_by_username(client, retail):
    client.force_login(person("lob_admin", retail))
    newcomer = UserFactory(username="newcomer")

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("admin:lob_tenants_membership_add"),
            {"lob": retail.pk, "username": "newcomer", "role": "lob_viewer"},
        )

    assert response.status_code == 302
    assert Membership.objects.get(lob=retail, user=newcomer).role == "lob_viewer"
    assert AuditEvent.objects.filter(action="membership.set", lob_slug="retail").exists()


def test_the_add_member_form_lists_no_users(client, retail):
    UserFactory(username="someone-of-another-lob")
    client.force_login(person("lob_admin", retail))

    page = client.get(reverse("admin:lob_tenants_membership_add")).content.decode()

    assert "someone-of-another-lob" not in page


def test_the_last_lob_admin_can_be_neither_demoted_nor_removed(client, retail):
    lob_admin = person("lob_admin", retail)
    membership = lob_admin.memberships.get()
    client.force_login(lob_admin)

    demoted = client.post(_change_url(membership), {"role": "lob_viewer"})
    removed = client.post(reverse("admin:lob_tenants_membership_delete", args=[membership.pk]), {"post": "yes"})

    assert "last admin" in demoted.content.decode()
    assert removed.status_code == 403
    assert Membership.objects.get(pk=membership.pk).role == "lob_admin"


def test_a_bulk_delete_removes_no_member_of_a_lob_where_the_role_only_reads(client, retail, wealth):
    user = person("lob_admin", retail)
    committed(access_services.membership_set, lob=wealth, user=user, role="lob_viewer")
    theirs = _member(wealth)
    client.force_login(user)

    response = client.post(
        reverse("admin:lob_tenants_membership_changelist"),
        {"action": "delete_selected", "_selected_action": [theirs.pk], "post": "yes"},
    )

    assert response.status_code == 403
    assert Membership.objects.filter(pk=theirs.pk).exists()


# ---- central users, superusers, break-glass ----


def test_a_superuser_who_is_no_member_runs_the_catalog_but_sees_no_lob_objects(client, retail):
    _use_case(retail)
    client.force_login(person("superuser"))

    assert client.get(reverse("admin:model_catalog_alias_changelist")).status_code == 200
    assert client.get(reverse("admin:lob_tenants_lob_changelist")).status_code == 200
    assert client.get(reverse("admin:lob_tenants_usecase_changelist")).status_code == 403
    assert client.get(reverse("admin:lob_tenants_apikey_changelist")).status_code == 403


def test_the_demo_admin_sees_the_demo_lob_and_runs_the_platform(client, tmp_path):
    with TestCase.captureOnCommitCallbacks(execute=True):
        world = demo_seed(password_file=tmp_path / "password")
    client.force_login(get_user_model().objects.get(username=world.admin_username))

    use_cases = client.get(reverse("admin:lob_tenants_usecase_changelist")).content.decode()
    keys = client.get(reverse("admin:lob_tenants_apikey_changelist")).content.decode()

    assert world.use_case_slug in use_cases
    assert world.api_key_prefix in keys
    assert client.get(reverse("admin:model_catalog_alias_changelist")).status_code == 200
    assert client.get(reverse("admin:metering_budget_add")).status_code == 200


def test_break_glass_lets_a_central_user_read_one_lobs_data_until_it_ends(client, retail, wealth):
    engineer = person("platform_admin")
    retail_template = PromptTemplate.objects.create(lob=retail, name="greeting", template="Hello {name}")
    wealth_template = PromptTemplate.objects.create(lob=wealth, name="greeting", template="Good day {name}")
    request = access_services.break_glass_request(
        requester=engineer,
        lob=retail,
        reason="Investigating incident INC-4411 reported by the LOB",
        duration_minutes=30,
    )
    client.force_login(engineer)
    assert client.get(_change_url(retail_template)).status_code == 403

    access_services.break_glass_decide(request=request, approver=person("lob_admin", retail), approve=True)

    page = client.get(_change_url(retail_template)).content.decode()
    assert "Hello {name}" in page and 'name="_save"' not in page  # read-only
    assert client.get(_change_url(wealth_template)).status_code == 404
    assert client.get(reverse("admin:lob_tenants_prompttemplate_add")).status_code == 403
    assert client.get(reverse("admin:lob_tenants_usecase_changelist")).status_code == 403  # data, not management
    request = access_services.break_glass_revoke(request=request, actor=engineer)
    assert request.status == BreakGlassRequest.Status.REVOKED
    assert client.get(_change_url(retail_template)).status_code == 403


def test_break_glass_ends_in_the_portal_the_moment_it_expires(client, retail):
    engineer = person("platform_admin")
    template = PromptTemplate.objects.create(lob=retail, name="greeting", template="Hello {name}")
    request = access_services.break_glass_request(
        requester=engineer, lob=retail, reason="Investigating incident INC-4412 reported by the LOB", duration_minutes=5
    )
    access_services.break_glass_decide(request=request, approver=person("lob_admin", retail), approve=True)
    client.force_login(engineer)
    assert client.get(_change_url(template)).status_code == 200

    BreakGlassRequest.objects.filter(pk=request.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert client.get(_change_url(template)).status_code == 403  # before the expiry job withdraws the grant


def test_a_platform_admin_sets_a_budget_through_the_service(client, retail):
    client.force_login(person("platform_admin"))

    response = client.post(
        reverse("admin:metering_budget_add"),
        {"lob": retail.pk, "monthly_limit_usd": "250", "hard_limit": "on", "thresholds": "[50, 90]"},
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    assert AuditEvent.objects.filter(action="budget.set", lob_slug="retail").exists()


def test_the_rate_limits_of_single_api_keys_are_not_shown_to_the_platform_team(client, retail):
    api_key, _ = issue_key(_use_case(retail))
    limit = rate_limit_set(api_key=api_key, requests_per_minute=5)
    client.force_login(person("platform_admin"))

    listing = client.get(reverse("admin:metering_ratelimit_changelist")).content.decode()

    assert api_key.prefix not in listing and api_key.name not in listing
    assert client.get(_change_url(limit)).status_code == 404


# ---- spend ----


def test_the_spend_page_shows_a_lob_member_only_their_lobs_spend(client, retail, wealth):
    _usage(retail), _usage(wealth)
    client.force_login(person("lob_viewer", retail))

    response = client.get(reverse("admin:metering_usagerecord_spend"))

    assert response.status_code == 200
    assert [row["use_case"] for row in response.context["by_use_case"]] == ["retail/retail-assistant"]
    assert list(response.context["form"].fields["lob"].queryset) == [retail]
    assert "Wealth Management" not in response.content.decode()


def test_the_spend_page_refuses_a_lob_filter_outside_the_users_lobs(client, retail, wealth):
    _usage(wealth)
    client.force_login(person("lob_admin", retail))

    response = client.get(reverse("admin:metering_usagerecord_spend"), {"lob": "wealth"})

    assert response.context["lob"] is None
    assert response.context["total"] == 0
