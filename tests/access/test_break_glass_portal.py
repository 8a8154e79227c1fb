"""Break-glass in the portal: a central user asks, the LOB's admin approves or denies on the
request's page, the requester or the admin ends access early; each step is the audited service the
management API calls. Another LOB's admin never sees the request; bad input writes nothing."""

from __future__ import annotations

import pytest
from django.test import Client, TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from genai_platform.access.models import BreakGlassRequest
from genai_platform.access.selectors import can_read_lob_data
from genai_platform.audit.models import AuditEvent
from tests.factories import LobFactory, UserFactory

pytestmark = pytest.mark.django_db

ASK = reverse("admin:access_breakglassrequest_request")
REASON = "Incident INC-4411: a leaked prompt was reported"


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def member(lob, role: str = "lob_admin"):
    user = UserFactory(is_staff=True)
    committed(access_services.membership_set, lob=lob, user=user, role=role)
    return user


@pytest.fixture
def world():
    retail, wealth = LobFactory(slug="retail", name="Retail"), LobFactory(slug="wealth", name="Wealth")
    engineer = UserFactory(username="engineer", is_staff=True)
    committed(access_services.central_role_grant, user=engineer, role="platform_admin")
    return {"retail": retail, "wealth": wealth, "engineer": engineer, "retail_admin": member(retail)}


def page_of(asked: BreakGlassRequest) -> str:
    return reverse("admin:access_breakglassrequest_change", args=[asked.pk])


def pending(world) -> BreakGlassRequest:
    return access_services.break_glass_request(
        requester=world["engineer"], lob=world["retail"], reason=REASON, duration_minutes=30
    )


def test_a_central_user_asks_from_the_portal(world):
    engineer = signed_in(world["engineer"])
    assert 'id="break-glass-ask"' in engineer.get(reverse("admin:access_breakglassrequest_changelist")).content.decode()

    response = engineer.post(ASK, {"lob": world["retail"].pk, "reason": REASON, "duration_minutes": 45})

    asked = BreakGlassRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == page_of(asked)
    assert (asked.requester, asked.lob, asked.status, asked.duration_minutes) == (
        world["engineer"],
        world["retail"],
        "pending",
        45,
    )
    assert AuditEvent.objects.get(action="break_glass.requested").actor == "engineer"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"reason": "because", "duration_minutes": 30}, "reason"),
        ({"reason": REASON, "duration_minutes": 0}, "duration_minutes"),
        ({"reason": REASON, "duration_minutes": 100_000}, "duration_minutes"),
    ],
)
def test_a_bad_request_is_a_field_error_and_nothing_is_written(world, data, field):
    response = signed_in(world["engineer"]).post(ASK, {"lob": world["retail"].pk, **data})

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert not BreakGlassRequest.objects.exists() and not AuditEvent.objects.filter(action__startswith="break").exists()


def test_a_lob_member_cannot_ask(world):
    response = signed_in(world["retail_admin"]).post(
        ASK, {"lob": world["wealth"].pk, "reason": REASON, "duration_minutes": 30}
    )

    assert response.status_code == 403 and not BreakGlassRequest.objects.exists()


def test_the_lob_admin_approves_and_the_requester_ends_access_early(world):
    asked = pending(world)
    admin = signed_in(world["retail_admin"])
    assert 'id="break-glass-approve"' in admin.get(page_of(asked)).content.decode()

    approved = admin.post(page_of(asked), {"decision": "approve"}, follow=True)

    assert "Approved: access starts now." in approved.content.decode()
    asked.refresh_from_db()
    assert asked.status == "approved" and asked.decided_by == world["retail_admin"]
    assert can_read_lob_data(world["engineer"], world["retail"])
    signed_in(world["engineer"]).post(page_of(asked), {"decision": "revoke"})
    asked.refresh_from_db()
    assert asked.status == "revoked" and not can_read_lob_data(world["engineer"], world["retail"])
    assert AuditEvent.objects.filter(action__in=["break_glass.approved", "break_glass.revoked"]).count() == 2


def test_the_lob_admin_denies(world):
    asked = pending(world)

    signed_in(world["retail_admin"]).post(page_of(asked), {"decision": "deny"})

    asked.refresh_from_db()
    assert asked.status == "denied" and not can_read_lob_data(world["engineer"], world["retail"])


def test_nobody_approves_their_own_request(world):
    asked = pending(world)
    engineer = signed_in(world["engineer"])

    page = engineer.get(page_of(asked)).content.decode()
    response = engineer.post(page_of(asked), {"decision": "approve"})

    assert 'id="break-glass-approve"' not in page
    assert response.status_code == 403
    asked.refresh_from_db()
    assert asked.status == "pending"


def test_another_lobs_admin_and_the_lobs_developers_do_not_see_the_request(world):
    asked = pending(world)
    outsider = signed_in(member(world["wealth"]))
    developer = signed_in(member(world["retail"], "lob_developer"))

    assert outsider.get(page_of(asked)).status_code == 404
    assert outsider.post(page_of(asked), {"decision": "approve"}).status_code == 404
    assert developer.get(page_of(asked)).status_code == 403
    asked.refresh_from_db()
    assert asked.status == "pending"


def test_a_decision_on_a_request_already_decided_is_refused(world):
    asked = pending(world)
    admin = signed_in(world["retail_admin"])
    admin.post(page_of(asked), {"decision": "deny"})

    response = admin.post(page_of(asked), {"decision": "approve"})

    assert response.status_code == 403  # no longer offered
    asked.refresh_from_db()
    assert asked.status == "denied"
