"""Central roles and policy lines through the management API: superusers only (no policy line grants
`central_role` or `policy`), through the same audited services as the portal's pages, field-level
errors on bad input and nothing written."""

from __future__ import annotations

import pytest
from django.test import Client, TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from genai_platform.access.enforcer import policy_enforcer
from genai_platform.access.models import CentralRoleAssignment, PolicyRule
from genai_platform.access.selectors import user_can
from genai_platform.audit.models import AuditEvent
from tests.factories import LobFactory, UserFactory

pytestmark = pytest.mark.django_db

JSON = "application/json"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(settings) -> Client:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    return signed_in(UserFactory(username="root", is_superuser=True, is_staff=True))


def test_a_superuser_makes_someone_a_board_member_and_the_policy_follows(root):
    newcomer = UserFactory(username="newcomer")

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = root.post(
            reverse("access:central-role-grant"),
            {"username": "newcomer", "role": "governance_reviewer", "specialty": "legal"},
            content_type=JSON,
        )

    assert response.status_code == 200, response.content
    assert response.json() == {"username": "newcomer", "role": "governance_reviewer", "specialty": "legal"}
    assert CentralRoleAssignment.objects.get(user=newcomer).specialty == "legal"
    assert AuditEvent.objects.get(action="central_role.granted").actor == "root"
    policy_enforcer().reload()
    assert user_can(newcomer, "central", "review", "write")
    listed = root.get(reverse("access:central-role-list")).json()
    assert [row["username"] for row in listed["results"]] == ["newcomer"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "nobody", "role": "platform_admin"}, "username"),
        ({"username": "newcomer", "role": "pope"}, "role"),
        ({"username": "newcomer", "role": "governance_reviewer"}, "specialty"),
        ({"username": "newcomer", "role": "platform_admin", "specialty": "legal"}, "specialty"),
    ],
)
def test_a_bad_central_role_is_a_field_error_and_nothing_is_written(root, body, field):
    UserFactory(username="newcomer")

    response = root.post(reverse("access:central-role-grant"), body, content_type=JSON)

    assert response.status_code == 400 and field in response.json(), response.content
    assert not CentralRoleAssignment.objects.exists() and not AuditEvent.objects.exists()


def test_a_superuser_adds_and_removes_a_policy_line(root):
    lob = LobFactory(slug="retail")
    viewer = UserFactory()
    with TestCase.captureOnCommitCallbacks(execute=True):
        access_services.membership_set(lob=lob, user=viewer, role="lob_viewer")
    line = {"role": "lob_viewer", "domain": "*", "obj": "lob_data", "act": "read"}

    with TestCase.captureOnCommitCallbacks(execute=True):
        added = root.post(reverse("access:policy-rule-add"), line, content_type=JSON)

    assert added.status_code == 201, added.content
    assert user_can(viewer, "lob:retail", "lob_data", "read")
    assert AuditEvent.objects.filter(action="policy_rule.added").count() == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        removed = root.post(reverse("access:policy-rule-remove", kwargs={"rule_id": added.json()["id"]}))
    assert removed.status_code == 204
    assert not PolicyRule.objects.filter(role="lob_viewer", obj="lob_data").exists()
    assert not user_can(viewer, "lob:retail", "lob_data", "read")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"role": "Lob Viewer", "domain": "*", "obj": "use_case", "act": "read"}, "role"),
        ({"role": "lob_viewer", "domain": "retail", "obj": "use_case", "act": "read"}, "domain"),
        ({"role": "lob_viewer", "domain": "*", "obj": "use case", "act": "read"}, "obj"),
        ({"role": "lob_viewer", "domain": "*", "obj": "use_case", "act": "delete"}, "act"),
    ],
)
def test_a_malformed_policy_line_is_a_field_error_and_nothing_is_written(root, line, field):
    rules = PolicyRule.objects.count()

    response = root.post(reverse("access:policy-rule-add"), line, content_type=JSON)

    assert response.status_code == 400 and field in response.json(), response.content
    assert PolicyRule.objects.count() == rules and not AuditEvent.objects.exists()


def test_the_portal_refuses_a_malformed_policy_line_field_by_field(root):
    rules = PolicyRule.objects.count()

    response = root.post(
        reverse("admin:access_policyrule_add"), {"role": "lob_viewer", "domain": "retail", "obj": "x", "act": "read"}
    )

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["domain"]
    assert PolicyRule.objects.count() == rules


@pytest.mark.parametrize("role", ["platform_admin", "governance_reviewer"])
def test_central_roles_without_superuser_cannot_grant_roles_or_edit_the_policy(role):
    user = UserFactory()
    access_services.central_role_grant(user=user, role=role, specialty="legal" if role != "platform_admin" else "")
    policy_enforcer().reload()
    client = signed_in(user)

    granted = client.post(
        reverse("access:central-role-grant"), {"username": user.username, "role": "platform_admin"}, content_type=JSON
    )
    added = client.post(
        reverse("access:policy-rule-add"), {"role": role, "domain": "*", "obj": "*", "act": "*"}, content_type=JSON
    )

    assert (granted.status_code, added.status_code) == (403, 403)
    assert not PolicyRule.objects.filter(role=role, domain="*", obj="*").exists()
