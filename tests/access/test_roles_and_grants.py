"""Roles with casbin (LOB domains and `central`), object grants with guardian, and break-glass."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase
from django.utils import timezone

from genai_platform.access import services
from genai_platform.access.models import CENTRAL, BreakGlassRequest
from genai_platform.access.selectors import can_read_lob_data, lobs_for, user_can, user_can_in_lob
from genai_platform.audit.models import AuditEvent
from lob_tenants import selectors as tenant_selectors
from lob_tenants import services as tenant_services
from lob_tenants.models import PromptTemplate
from tests.factories import LobFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def committed(service, **kwargs):
    """Role changes reload the policy after commit: run the commit hooks as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


def member(lob, role):
    user = UserFactory()
    committed(services.membership_set, lob=lob, user=user, role=role)
    return user


def central(role, specialty=""):
    user = UserFactory()
    committed(services.central_role_grant, user=user, role=role, specialty=specialty)
    return user


@pytest.fixture
def retail():
    return LobFactory(slug="retail")


@pytest.fixture
def wealth():
    return LobFactory(slug="wealth")


def test_a_lob_admin_manages_use_cases_in_their_lob_and_nowhere_else(retail, wealth):
    admin = member(retail, "lob_admin")

    assert user_can_in_lob(admin, retail, "use_case", "write")
    assert not user_can_in_lob(admin, wealth, "use_case", "read")
    assert not user_can(admin, CENTRAL, "catalog", "read")
    assert list(lobs_for(admin, "use_case", "read")) == [retail]


def test_a_viewer_reads_but_does_not_write(retail):
    viewer = member(retail, "lob_viewer")

    assert user_can_in_lob(viewer, retail, "use_case", "read")
    assert not user_can_in_lob(viewer, retail, "use_case", "write")
    assert not user_can_in_lob(viewer, retail, "api_key", "write")


def test_the_platform_team_runs_the_catalog_but_cannot_read_lob_data(retail):
    admin = central("platform_admin")

    assert user_can(admin, CENTRAL, "catalog", "write")
    assert user_can(admin, CENTRAL, "budget", "write")
    assert not user_can_in_lob(admin, retail, "use_case", "read")
    assert not can_read_lob_data(admin, retail)


def test_a_reviewer_reviews_and_reads_the_audit_log_but_changes_no_catalog():
    reviewer = central("governance_reviewer", "legal")

    assert user_can(reviewer, CENTRAL, "review", "write")
    assert user_can(reviewer, CENTRAL, "audit", "read")
    assert not user_can(reviewer, CENTRAL, "catalog", "write")


def test_a_reviewer_must_have_a_specialty():
    with pytest.raises(ValidationError):
        central("governance_reviewer")


def test_a_policy_line_added_at_run_time_takes_effect(retail):
    viewer = member(retail, "lob_viewer")
    assert not user_can_in_lob(viewer, retail, "api_key", "write")

    committed(services.policy_rule_add, role="lob_viewer", domain="*", obj="api_key", act="write")

    assert user_can_in_lob(viewer, retail, "api_key", "write")


def test_removing_a_membership_removes_the_access(retail):
    developer = member(retail, "lob_developer")
    membership = developer.memberships.get()

    committed(services.membership_remove, membership=membership)

    assert not user_can_in_lob(developer, retail, "use_case", "read")


def test_a_shared_prompt_is_readable_by_the_granted_use_case_only_until_revoked(retail, wealth):
    template = PromptTemplate.objects.create(lob=retail, name="greeting", template="Hello {name}")
    their_use_case, bystander = UseCaseFactory(lob=wealth), UseCaseFactory(lob=wealth)
    owner_admin = member(retail, "lob_admin")
    assert not tenant_selectors.use_case_can_read(their_use_case, template, retail.pk)

    tenant_services.object_share(obj=template, owner_lob=retail, use_case=their_use_case, actor=owner_admin)

    assert tenant_selectors.use_case_can_read(their_use_case, template, retail.pk)
    assert not tenant_selectors.use_case_can_read(bystander, template, retail.pk)
    tenant_services.object_unshare(obj=template, owner_lob=retail, use_case=their_use_case, actor=owner_admin)
    assert not tenant_selectors.use_case_can_read(their_use_case, template, retail.pk)


def test_only_the_owning_lobs_admin_can_share(retail, wealth):
    template = PromptTemplate.objects.create(lob=retail, name="greeting", template="Hello")
    outsider = member(wealth, "lob_admin")
    insider_developer = member(retail, "lob_developer")

    for actor in (outsider, insider_developer):
        with pytest.raises(PermissionDenied):
            tenant_services.object_share(
                obj=template, owner_lob=retail, use_case=UseCaseFactory(lob=wealth), actor=actor
            )


def test_break_glass_is_requested_approved_used_and_expires_with_an_audit_trail(retail):
    engineer = central("platform_admin")
    lob_admin = member(retail, "lob_admin")

    request = services.break_glass_request(
        requester=engineer,
        lob=retail,
        reason="Investigating incident INC-4411: leaked prompt report",
        duration_minutes=30,
    )
    assert not can_read_lob_data(engineer, retail)
    services.break_glass_decide(request=request, approver=lob_admin, approve=True)
    engineer = type(engineer).objects.get(pk=engineer.pk)  # a fresh user, as a new request would load
    assert can_read_lob_data(engineer, retail)

    assert services.break_glass_expire_due(now=timezone.now() + dt.timedelta(minutes=31)) == 1

    engineer = type(engineer).objects.get(pk=engineer.pk)
    assert not can_read_lob_data(engineer, retail)
    request.refresh_from_db()
    assert request.status == BreakGlassRequest.Status.EXPIRED
    actions = list(AuditEvent.objects.filter(object_id=str(request.pk)).order_by("id").values_list("action", flat=True))
    assert actions == ["break_glass.requested", "break_glass.approved", "break_glass.expired"]


def test_break_glass_cannot_be_self_approved_or_approved_by_a_non_admin(retail):
    engineer = central("platform_admin")
    request = services.break_glass_request(
        requester=engineer, lob=retail, reason="Investigating incident INC-4411 in detail", duration_minutes=30
    )

    with pytest.raises(PermissionDenied):
        services.break_glass_decide(request=request, approver=engineer, approve=True)
    with pytest.raises(PermissionDenied):
        services.break_glass_decide(request=request, approver=member(retail, "lob_viewer"), approve=True)


def test_break_glass_needs_a_real_reason_and_a_bounded_duration(retail):
    engineer = central("platform_admin")

    with pytest.raises(ValidationError):
        services.break_glass_request(requester=engineer, lob=retail, reason="because", duration_minutes=30)
    with pytest.raises(ValidationError):
        services.break_glass_request(
            requester=engineer, lob=retail, reason="Investigating incident INC-4411 in detail", duration_minutes=10_000
        )


def test_a_denied_request_grants_nothing(retail):
    engineer = central("platform_admin")
    request = services.break_glass_request(
        requester=engineer, lob=retail, reason="Investigating incident INC-4411 in detail", duration_minutes=30
    )

    services.break_glass_decide(request=request, approver=member(retail, "lob_admin"), approve=False)

    assert not can_read_lob_data(type(engineer).objects.get(pk=engineer.pk), retail)
