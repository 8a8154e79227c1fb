"""SLA escalation and expiry warnings: email to the right people and a signed webhook, once each."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest
from django.core import mail
from django.utils import timezone

from genai_platform.access.services import membership_set
from governance.services import workflow
from tests.factories import UserFactory
from tests.fakes.server import FakeResponse, FakeServer
from tests.governance.flows import approve_low, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook(settings):
    with FakeServer(lambda request: FakeResponse(status=204)) as server:
        settings.GOVERNANCE_WEBHOOK_URL = server.url + "/hooks/governance"
        settings.GOVERNANCE_BOARD_CHAIR_EMAIL = "chair@example.com"
        yield server


def signature_ok(request, settings) -> bool:
    expected = "sha256=" + hmac.new(settings.WEBHOOK_SIGNING_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-genai-signature"], expected)


def test_a_review_past_its_sla_is_escalated_to_the_chair_once(use_case, submitter, webhook, settings):
    review = submitted(use_case, submitter)
    later = review.sla_due_at + dt.timedelta(minutes=1)

    assert workflow.reviews_escalate_overdue(now=review.sla_due_at - dt.timedelta(minutes=1)) == 0
    assert workflow.reviews_escalate_overdue(now=later) == 1
    assert workflow.reviews_escalate_overdue(now=later) == 0

    assert [m.to for m in mail.outbox] == [["chair@example.com"]]
    assert "overdue" in mail.outbox[0].subject.lower()
    [call] = webhook.requests
    assert call.json()["event"] == "review.overdue" and signature_ok(call, settings)


def test_lob_admins_are_warned_once_before_an_approval_expires(use_case, submitter, webhook, settings):
    admin = UserFactory(email="lob-admin@example.com")
    membership_set(lob=use_case.lob, user=admin, role="lob_admin")
    approve_low(use_case, submitter)
    approval = use_case.approvals.get(status="current")
    two_weeks_before = approval.expires_at - dt.timedelta(days=13)

    assert workflow.approvals_warn_expiring(now=timezone.now()) == 0
    assert workflow.approvals_warn_expiring(now=two_weeks_before) == 1
    assert workflow.approvals_warn_expiring(now=two_weeks_before) == 0

    assert [m.to for m in mail.outbox] == [["lob-admin@example.com"]]
    [call] = webhook.requests
    assert call.json()["event"] == "approval.expiring" and signature_ok(call, settings)


def test_an_unreachable_webhook_leaves_the_reminder_to_be_sent_again(use_case, submitter, settings):
    settings.GOVERNANCE_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"
    review = submitted(use_case, submitter)

    with pytest.raises(OSError):
        workflow.reviews_escalate_overdue(now=review.sla_due_at + dt.timedelta(minutes=1))

    review.refresh_from_db()
    assert review.escalated_at is None
