"""The board suspends the use case a review approved, and reinstates it, from the review's page in
the portal and through the management API; both go through `workflow.use_case_suspend` /
`use_case_reinstate`, say why, and write nothing on bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from genai_platform.access import services as access_services
from genai_platform.audit.models import AuditEvent
from governance.models import Approval, Review
from lob_tenants.models import UseCase
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory

from .flows import approve_low

pytestmark = pytest.mark.django_db

INCIDENT = "Incident INC-7: the model leaked an account number."


@pytest.fixture(autouse=True)
def _portal_settings(settings):
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


def central(role: str, specialty: str = ""):
    user = UserFactory(is_staff=True)
    committed(access_services.central_role_grant, user=user, role=role, specialty=specialty)
    return user


@pytest.fixture
def approved() -> Review:
    """The review in which the board approved a retail use case."""
    lob = LobFactory(slug="retail", name="Retail")
    use_case = UseCaseFactory(lob=lob, slug="branch-faq", status="draft", aliases=[AliasFactory()])
    return approve_low(use_case, UserFactory())


def page_of(review: Review) -> str:
    return reverse("admin:governance_review_change", args=[review.pk])


def portal_change(review: Review, change: str) -> str:
    return reverse(f"admin:governance_review_{change}", args=[review.pk])


def api_change(review: Review, change: str) -> str:
    return reverse(f"governance:use-case-{change}", kwargs={"review_id": review.pk})


def statuses(review: Review) -> tuple[str, list[str]]:
    review.use_case.refresh_from_db()
    approvals = Approval.objects.filter(use_case=review.use_case).values_list("status", flat=True)
    return review.use_case.status, list(approvals)


# ---- the portal ----


def test_a_board_member_suspends_and_reinstates_from_the_review_page(approved):
    board = signed_in(central("governance_reviewer", "risk"))
    assert 'id="use-case-suspend"' in board.get(page_of(approved)).content.decode()

    suspended = board.post(portal_change(approved, "suspend"), {"reason": INCIDENT}, follow=True)

    assert "Suspended: its production keys stop working now." in suspended.content.decode()
    assert 'id="use-case-reinstate"' in suspended.content.decode()
    assert statuses(approved) == (UseCase.Status.SUSPENDED, [Approval.Status.SUSPENDED])
    event = AuditEvent.objects.get(action="use_case.suspended")
    assert event.after == {"status": "suspended", "reason": INCIDENT}

    board.post(portal_change(approved, "reinstate"), {"reason": "Fixed in release 2.3."})

    assert statuses(approved) == (UseCase.Status.APPROVED, [Approval.Status.CURRENT])
    assert AuditEvent.objects.get(action="use_case.approved", after__reason="Fixed in release 2.3.")


def test_a_suspension_without_a_reason_is_a_field_error_and_changes_nothing(approved):
    board = signed_in(central("governance_reviewer", "risk"))
    events = AuditEvent.objects.count()

    response = board.post(portal_change(approved, "suspend"), {"reason": "   "})

    assert response.status_code == 200
    assert response.context["suspension_form"].errors["reason"] == ["This field is required."]
    assert statuses(approved) == (UseCase.Status.APPROVED, [Approval.Status.CURRENT])
    assert AuditEvent.objects.count() == events


def test_reinstating_an_expired_approval_says_why_and_changes_nothing(approved):
    board = signed_in(central("governance_reviewer", "risk"))
    board.post(portal_change(approved, "suspend"), {"reason": INCIDENT})
    Approval.objects.filter(use_case=approved.use_case).update(expires_at=timezone.now() - dt.timedelta(days=1))

    response = board.post(portal_change(approved, "reinstate"), {"reason": "Fixed."})

    assert response.status_code == 200
    assert "no unexpired suspended approval" in str(response.context["suspension_form"].non_field_errors())
    assert statuses(approved) == (UseCase.Status.SUSPENDED, [Approval.Status.SUSPENDED])


@pytest.mark.parametrize("who", ["lob_admin", "platform_admin"])
def test_only_the_board_suspends_in_the_portal(approved, who):
    if who == "lob_admin":
        user = UserFactory(is_staff=True)
        committed(access_services.membership_set, lob=approved.use_case.lob, user=user, role="lob_admin")
    else:
        user = central("platform_admin")

    response = signed_in(user).post(portal_change(approved, "suspend"), {"reason": INCIDENT})

    assert response.status_code == 403
    assert statuses(approved) == (UseCase.Status.APPROVED, [Approval.Status.CURRENT])


# ---- the management API ----


def test_the_board_suspends_and_reinstates_through_the_api(approved):
    board = signed_in(central("governance_reviewer", "risk"))

    suspended = board.post(api_change(approved, "suspend"), {"reason": INCIDENT}, content_type="application/json")

    assert suspended.status_code == 200, suspended.content
    assert suspended.json()["status"] == "suspended" and suspended.json()["approval"]["status"] == "suspended"
    reinstated = board.post(api_change(approved, "reinstate"), {"reason": "Fixed."}, content_type="application/json")
    assert reinstated.json()["status"] == "approved" and reinstated.json()["approval"]["status"] == "current"
    assert statuses(approved) == (UseCase.Status.APPROVED, [Approval.Status.CURRENT])


def test_the_api_refuses_a_blank_reason_and_an_impossible_change_and_writes_nothing(approved):
    board = signed_in(central("governance_reviewer", "risk"))
    events = AuditEvent.objects.count()

    blank = board.post(api_change(approved, "suspend"), {"reason": " "}, content_type="application/json")
    not_suspended = board.post(api_change(approved, "reinstate"), {"reason": "x"}, content_type="application/json")

    assert blank.status_code == 400 and "reason" in blank.json()
    assert not_suspended.status_code == 400 and "detail" in not_suspended.json()
    assert statuses(approved) == (UseCase.Status.APPROVED, [Approval.Status.CURRENT])
    assert AuditEvent.objects.count() == events


def test_the_lob_cannot_suspend_through_the_api_and_an_unknown_review_is_not_found(approved):
    lob_admin = UserFactory()
    committed(access_services.membership_set, lob=approved.use_case.lob, user=lob_admin, role="lob_admin")
    board = signed_in(central("governance_reviewer", "risk"))
    unknown = reverse("governance:use-case-suspend", kwargs={"review_id": approved.pk + 1000})

    refused = signed_in(lob_admin).post(api_change(approved, "suspend"), {"reason": INCIDENT})

    assert refused.status_code == 403
    assert board.post(unknown, {"reason": INCIDENT}).status_code == 404
    assert statuses(approved) == (UseCase.Status.APPROVED, [Approval.Status.CURRENT])
