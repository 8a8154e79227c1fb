"""No way into a LOB's data through its people: every portal page and API endpoint a central role
can reach is tried against a LOB member, their membership and their LOB; afterwards the central
user still reads none of the LOB's prompt templates, captured exchanges, vector-store documents,
agent instructions or conversations (only an approved break-glass grant opens them), and every
action that went through left an audit event and a notice to the LOB.

The pages come from the admin registry (every page of the models that hold people and LOBs) and
the endpoints from the URL configuration, so a new page or endpoint is tried without anyone
remembering to add it; a page with no way to try it here fails until it gets one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from genai_platform.access import services as access_services
from genai_platform.access.models import BreakGlassRequest, CentralRoleAssignment, PeopleNotice, PolicyRule
from genai_platform.audit.models import AuditEvent
from governance.models import CapturedExchange
from lob_tenants.models import Lob, Membership, PromptTemplate
from tests.access.test_api_authorization_matrix import api_endpoints
from tests.factories import AgentFactory, AliasFactory, LobFactory, UseCaseFactory, UserFactory, issue_key, vector_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]

MARKER = "retail-secret-5b1e"
DEV_PASSWORD = "Dev-0wn-passphrase"
ATTACKER_PASSWORD = "Taken-0ver-passphrase"
CENTRAL_ROLES = ("superuser", "platform_admin", "governance_reviewer")
#: The models whose rows are people, their memberships and roles, and LOBs.
PEOPLE_MODELS = ("auth.user", "auth.group", "lob_tenants.membership", "lob_tenants.lob", "access.centralroleassignment")


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


@dataclass
class World:
    lob: Lob
    admin: Any
    developer: Any
    membership: Membership
    objects: dict[str, Any]


def build_world() -> World:
    lob = LobFactory(slug="retail")
    lob_admin = UserFactory(username="retail-admin", email="admin@retail.example", is_staff=True)
    committed(access_services.membership_set, lob=lob, user=lob_admin, role="lob_admin")
    developer = UserFactory(username="retail-dev", email="dev@retail.example", is_staff=True)
    developer.set_password(DEV_PASSWORD)
    developer.save()
    membership = committed(
        access_services.membership_set, lob=lob, user=developer, role="lob_developer", actor=lob_admin
    )
    use_case = UseCaseFactory(lob=lob, slug="assistant", status="draft", aliases=[AliasFactory()])
    template = PromptTemplate.objects.create(lob=lob, name="greeting", template=f"Hello {MARKER}")
    captured = CapturedExchange.objects.create(
        request_id="req_1",
        lob=lob,
        use_case=use_case,
        level="full",
        prompt=f"prompt {MARKER}",
        output=f"answer {MARKER}",
        captured_at=timezone.now(),
    )
    agent = AgentFactory(use_case=use_case, lob=lob, slug="helper", instructions=f"Always {MARKER}")
    from lob_tenants.agents.models import AgentRun
    from lob_tenants.vector_stores.models import Document

    run = AgentRun.objects.create(
        agent=agent,
        use_case=use_case,
        request_id="req_2",
        input=[{"role": "user", "content": MARKER}],
        output=f"conversation {MARKER}",
        deadline_at=timezone.now(),
    )
    store = vector_store(lob, ingestion_use_case=use_case, slug="docs")
    document = Document.objects.create(
        store=store, external_id="handbook", title=f"Handbook {MARKER}", content_type="text/plain", sha256="0" * 64
    )
    prefix = issue_key(use_case)[0].prefix
    objects = {
        "lob": lob.slug,
        "use_case": use_case.slug,
        "template": template.name,
        "version": template.version,
        "username": developer.username,
        "agent": agent.slug,
        "run_id": run.public_id,
        "store": store.slug,
        "document": document.external_id,
        "prefix": prefix,
        "tool": "none",
        "job_id": 1,
        "request_id": 1,
        "allowance_id": 1,
    }
    pages = {
        "prompt template": reverse("admin:lob_tenants_prompttemplate_change", args=[template.pk]),
        "captured exchange": reverse("admin:governance_capturedexchange_change", args=[captured.pk]),
        "agent instructions": reverse("admin:agents_agent_change", args=[agent.pk]),
        "conversation": reverse("admin:agents_agentrun_change", args=[run.pk]),
        "vector-store document": reverse("admin:vector_stores_document_change", args=[document.pk]),
    }
    return World(lob, lob_admin, developer, membership, {**objects, "pages": pages})


def central_user(role: str) -> Any:
    user = UserFactory(username=f"central-{role}", is_staff=True, is_superuser=role == "superuser")
    user.set_password("Central-0wn-pass")
    user.save()
    if role != "superuser":
        specialty = "security" if role == "governance_reviewer" else ""
        committed(access_services.central_role_grant, user=user, role=role, specialty=specialty)
    return user


# ---- the portal: every page of the people models, with a way to try it ----


def _user_change(world: World, central: Any) -> tuple[str, dict[str, Any]]:
    """Every field of the developer's page, each changed: only the name may go through."""
    return reverse("admin:auth_user_change", args=[world.developer.pk]), {
        "username": "taken-over",
        "email": "central@example.com",
        "first_name": "Renamed",
        "last_name": "Dev",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [Group.objects.get_or_create(name="powerful")[0].pk],
        "user_permissions": [Permission.objects.get(codename="view_lob_data").pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }


def _user_deactivate(world: World, central: Any) -> tuple[str, dict[str, Any]]:
    url, data = _user_change(world, central)
    data.pop("is_active")
    return url, data


def _self_in_lob_data_group(world: World, central: Any) -> tuple[str, dict[str, Any]]:
    """The central user gives themselves every permission there is, through a group: it is their own account."""
    group, _ = Group.objects.get_or_create(name="everything")
    group.permissions.set(Permission.objects.all())
    return reverse("admin:auth_user_change", args=[central.pk]), {
        "username": central.username,
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on" if central.is_superuser else "",
        "groups": [group.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }


PORTAL_ACTIONS = {
    "auth_user_password_change": lambda w, c: (
        reverse("admin:auth_user_password_change", args=[w.developer.pk]),
        {"password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD, "usable_password": "true"},
    ),
    "auth_user_change": _user_change,
    "auth_user_delete": lambda w, c: (reverse("admin:auth_user_delete", args=[w.developer.pk]), {"post": "yes"}),
    "auth_user_add": lambda w, c: (
        reverse("admin:auth_user_add"),
        {
            "username": "sleeper",
            "password1": ATTACKER_PASSWORD,
            "password2": ATTACKER_PASSWORD,
            "usable_password": "true",
        },
    ),
    "auth_group_add": lambda w, c: (
        reverse("admin:auth_group_add"),
        {"name": "lob-data", "permissions": [Permission.objects.get(codename="view_lob_data").pk]},
    ),
    "lob_tenants_membership_add": lambda w, c: (
        reverse("admin:lob_tenants_membership_add"),
        {"lob": w.lob.pk, "username": c.username, "role": "lob_admin"},
    ),
    "lob_tenants_membership_change": lambda w, c: (
        reverse("admin:lob_tenants_membership_change", args=[w.membership.pk]),
        {"role": "lob_admin"},
    ),
    "lob_tenants_membership_delete": lambda w, c: (
        reverse("admin:lob_tenants_membership_delete", args=[w.membership.pk]),
        {"post": "yes"},
    ),
    "lob_tenants_lob_change": lambda w, c: (
        reverse("admin:lob_tenants_lob_change", args=[w.lob.pk]),
        {"slug": w.lob.slug, "name": "Retail (renamed)", "business_owner": "someone", "cost_center": "CC-9"},
    ),
    "access_centralroleassignment_add": lambda w, c: (
        reverse("admin:access_centralroleassignment_add"),
        {"user": w.developer.pk, "role": "platform_admin"},
    ),
    "access_policyrule_add": lambda w, c: (
        reverse("admin:access_policyrule_add"),
        {"role": "platform_admin", "domain": "*", "obj": "lob_data", "act": "read"},
    ),
    "user_deactivate": _user_deactivate,
    "self_into_a_group_with_every_permission": _self_in_lob_data_group,
}
#: Allowed actions that touch no LOB's member, membership or record (audited, nothing to tell a LOB).
NOT_ABOUT_THE_LOB = {
    "auth_user_add",
    "auth_group_add",
    "access_policyrule_add",
    "self_into_a_group_with_every_permission",
}
#: What each central role gets through: superusers manage accounts (a LOB member's: name and
#: activation only), groups, central roles and policy lines; platform admins edit a LOB's record.
ALLOWED = {
    "superuser": {
        "auth_user_change",
        "user_deactivate",
        "auth_user_add",
        "auth_group_add",
        "lob_tenants_lob_change",
        "access_centralroleassignment_add",
        "access_policyrule_add",
        "self_into_a_group_with_every_permission",
    },
    "platform_admin": {"lob_tenants_lob_change"},
    "governance_reviewer": set(),
}
#: Pages that change nothing (lists, history) or have no row of a LOB's to act on.
READ_ONLY_PAGES = {"changelist", "history"}
NOT_TRIED = {
    "auth_group_change": "a group holds no person: adding people to groups is the user page's, tried above",
    "auth_group_delete": "as above",
    "lob_tenants_lob_add": "a new LOB has no people; its first admin is named through onboarding (four eyes)",
    "lob_tenants_lob_delete": "not offered",
    "access_centralroleassignment_change": "the role's user is read-only there; the add page is tried",
    "access_centralroleassignment_delete": "not offered",
}


def portal_pages() -> set[str]:
    names = set()
    for model, model_admin in admin.site._registry.items():
        if model._meta.label_lower not in PEOPLE_MODELS:
            continue
        for pattern in model_admin.get_urls():
            if pattern.name and pattern.name.rsplit("_", 1)[-1] not in READ_ONLY_PAGES:
                names.add(pattern.name)
    return names


def test_every_page_of_the_people_models_is_tried():
    missing = portal_pages() - set(PORTAL_ACTIONS) - set(NOT_TRIED)
    assert not missing, f"say how to try {sorted(missing)} against a LOB member, membership or LOB"


# ---- what the central user may read afterwards ----


def lob_data_reads(client: Client, world: World) -> dict[str, int]:
    """Every way to read the LOB's data, each answered: its portal pages and every API read under its
    URL. A response that shows the LOB's text counts as a read whatever its status."""
    responses = {name: client.get(url) for name, url in world.objects["pages"].items()}
    for endpoint in api_endpoints():
        if "lob" in endpoint.parameters and "get" in endpoint.methods:
            responses[endpoint.name] = client.get(_api_url(endpoint, world))
    return {name: 200 if MARKER in r.content.decode() else r.status_code for name, r in responses.items()}


#: URL parameters of LOB reads whose objects hold no LOB-written text, so the world makes none: a
#: review decision's evidence is a file the board uploaded, which reviewers may read by design.
NOT_LOB_TEXT = {"review_id": 0, "decision_id": 0}


def _api_url(endpoint: Any, world: World) -> str:
    kwargs = {
        name: world.objects[name] if name not in NOT_LOB_TEXT else NOT_LOB_TEXT[name] for name in endpoint.parameters
    }
    return reverse(endpoint.name, kwargs=kwargs)


@pytest.mark.parametrize("role", CENTRAL_ROLES)
def test_no_central_action_opens_a_lobs_data(role):
    world = build_world()
    central = central_user(role)
    client = Client()
    client.force_login(central)
    allowed = []

    for name, action in PORTAL_ACTIONS.items():
        url, data = action(world, central)
        audits, notices = AuditEvent.objects.count(), PeopleNotice.objects.filter(lob=world.lob).count()
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.post(url, data)
        if response.status_code == 302 and "/login/" not in response.url:
            allowed.append(name)
            assert AuditEvent.objects.count() > audits, f"{name} went through unaudited"
            if name not in NOT_ABOUT_THE_LOB:
                assert PeopleNotice.objects.filter(lob=world.lob).count() > notices, f"{name}: the LOB was not told"
        else:
            assert response.status_code in (200, 403, 404), (name, response.status_code)
        client.force_login(central)  # a password change of one's own would have ended the session

    for endpoint in api_endpoints():
        if "lob" not in endpoint.parameters or endpoint.methods == ("get",):
            continue
        response = client.post(_api_url(endpoint, world), {}, content_type="application/json")
        assert response.status_code in (403, 404), (endpoint.name, response.status_code)

    world.developer.refresh_from_db()
    assert world.developer.check_password(DEV_PASSWORD)
    assert (world.developer.username, world.developer.email) == ("retail-dev", "dev@retail.example")
    assert not (world.developer.is_superuser or world.developer.groups.exists())
    assert not Client().login(username="retail-dev", password=ATTACKER_PASSWORD)
    assert not Membership.objects.filter(lob=world.lob, user=central).exists()
    reads = lob_data_reads(client, world)
    assert {name: status for name, status in reads.items() if status not in (403, 404)} == {}
    assert set(allowed) == ALLOWED[role]
    if role == "superuser":
        assert PolicyRule.objects.filter(role="platform_admin", obj="lob_data").exists()  # added, and useless
        assert CentralRoleAssignment.objects.filter(user=world.developer).exists()


@pytest.mark.parametrize("role", ["superuser", "platform_admin"])
def test_an_approved_break_glass_grant_is_the_one_way_in(role):
    world = build_world()
    central = central_user(role)
    client = Client()
    client.force_login(central)
    before = client.get(world.objects["pages"]["captured exchange"]).status_code

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("access:break-glass-request"),
            {"lob": "retail", "reason": "Incident INC-77: a leaked prompt was reported", "duration_minutes": 30},
            content_type="application/json",
        )
    assert response.status_code == 201
    assert PeopleNotice.objects.filter(lob=world.lob, action="break_glass.requested").exists()
    request = BreakGlassRequest.objects.get(requester=central)
    committed(access_services.break_glass_decide, request=request, approver=world.admin, approve=True)

    assert before in (403, 404)
    assert client.get(world.objects["pages"]["captured exchange"]).status_code == 200
