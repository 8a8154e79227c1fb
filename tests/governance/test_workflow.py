"""The approval workflow: tiering, the state machine, quorum by tier, four-eyes, and conditions the
gateway enforces at run time."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, TestCase
from django.utils import timezone

from genai_platform.access.services import membership_set
from governance.models import Approval, Intake, Review
from governance.services import workflow
from governance.tiering import tier_of
from lob_tenants.models import ApiKey, UseCase
from tests.factories import AliasFactory, UseCaseFactory, UserFactory, issue_key
from tests.governance.flows import LOW_RISK, approve_low, reviewer, submitted

pytestmark = pytest.mark.django_db
S = UseCase.Status
CLIENT = Client()

# ---- tiering ----


@pytest.mark.parametrize(
    ("answers", "classification", "tier", "eu"),
    [
        ({}, "internal", "low", "minimal"),
        ({"customer_facing": True}, "internal", "medium", "transparency"),
        ({"personal_data": True}, "internal", "medium", "minimal"),
        ({}, "confidential", "medium", "minimal"),
        ({}, "restricted", "high", "minimal"),
        ({"annex_iii_area": "employment"}, "internal", "high", "high_risk"),
        ({"annex_iii_area": "essential_services"}, "internal", "high", "high_risk"),
        ({"autonomy": "autonomous", "personal_data": True}, "internal", "high", "minimal"),
        ({"prohibited_practice": "social_scoring"}, "internal", "prohibited", "prohibited_practice"),
        ({"generates_synthetic_media": True}, "public", "low", "transparency"),
    ],
)
def test_the_tier_follows_from_the_answers_by_explicit_rules(answers, classification, tier, eu):
    intake = Intake(**{**LOW_RISK, **answers})

    tiering = tier_of(intake, data_classification=classification)

    assert (tiering.tier, tiering.eu_ai_act_category) == (tier, eu)
    assert tiering.reasons


def test_a_prohibited_use_case_cannot_be_submitted(use_case, submitter):
    workflow.intake_save(use_case=use_case, actor=submitter, **LOW_RISK, prohibited_practice="social_scoring")

    with pytest.raises(ValidationError, match="prohibited practice"):
        workflow.use_case_submit(use_case=use_case, actor=submitter)


def test_submission_needs_an_intake(use_case, submitter):
    with pytest.raises(ValidationError, match="intake"):
        workflow.use_case_submit(use_case=use_case, actor=submitter)


# ---- state machine ----

ALLOWED = {(state, target) for state, targets in workflow.TRANSITIONS.items() for target in targets}


@pytest.mark.parametrize("state", list(S.values))
@pytest.mark.parametrize("target", list(S.values))
def test_every_transition_outside_the_state_machine_is_refused(state, target):
    use_case = UseCaseFactory(status=state)

    if (state, target) in ALLOWED:
        with TestCase.captureOnCommitCallbacks(execute=False):
            workflow._transition(use_case, target, actor="test")
        assert use_case.status == target
    else:
        with pytest.raises(ValidationError, match="cannot become"):
            workflow._transition(use_case, target, actor="test")


def test_a_low_risk_use_case_is_approved_by_one_reviewer_with_conditions(use_case, submitter):
    review = approve_low(use_case, submitter, prompt_capture="hashed", human_review_of_outputs=True)

    use_case.refresh_from_db()
    approval = use_case.approvals.get(status="current")
    assert review.status == "approved" and use_case.status == S.APPROVED
    assert approval.prompt_capture == "hashed" and approval.human_review_of_outputs
    assert approval.expires_at - approval.approved_at == dt.timedelta(days=365)


def test_a_high_risk_use_case_needs_security_legal_risk_and_compliance(use_case, submitter):
    review = submitted(use_case, submitter, annex_iii_area="employment")
    assert review.required_specialties == ["security", "legal", "risk", "compliance"]

    for specialty in ("security", "legal", "risk"):
        workflow.review_decide(review=review, reviewer=reviewer(specialty), verdict="approve", comment="ok")
        use_case.refresh_from_db()
        assert use_case.status == S.IN_REVIEW
    workflow.review_decide(review=review, reviewer=reviewer("compliance"), verdict="approve", comment="ok")

    use_case.refresh_from_db()
    assert use_case.status == S.APPROVED
    approval = use_case.approvals.get(status="current")
    assert approval.expires_at - approval.approved_at == dt.timedelta(days=90)


def test_two_approvals_of_the_same_specialty_do_not_make_a_quorum(use_case, submitter):
    review = submitted(use_case, submitter, customer_facing=True)  # medium: security and risk

    workflow.review_decide(review=review, reviewer=reviewer("security"), verdict="approve", comment="ok")
    workflow.review_decide(review=review, reviewer=reviewer("security"), verdict="approve", comment="ok")

    use_case.refresh_from_db()
    assert use_case.status == S.IN_REVIEW


def test_four_eyes_nobody_from_the_submitting_lob_decides(use_case, submitter):
    review = submitted(use_case, submitter)
    insider = reviewer("security")
    membership_set(lob=use_case.lob, user=insider, role="lob_viewer")

    with pytest.raises(PermissionDenied, match="four-eyes"):
        workflow.review_decide(review=review, reviewer=insider, verdict="approve", comment="mine")


def test_only_board_members_decide(use_case, submitter):
    review = submitted(use_case, submitter)

    with pytest.raises(PermissionDenied):
        workflow.review_decide(review=review, reviewer=UserFactory(), verdict="approve", comment="me")


def test_a_request_for_changes_sends_it_back_and_a_resubmission_opens_a_new_round(use_case, submitter):
    review = submitted(use_case, submitter)
    workflow.review_decide(review=review, reviewer=reviewer("risk"), verdict="request_changes", comment="metrics?")

    use_case.refresh_from_db()
    assert use_case.status == S.CHANGES_REQUESTED
    second = workflow.use_case_submit(use_case=use_case, actor=submitter, answer="Fixed what was asked.")
    assert second.pk != review.pk and second.status == "open"


def test_a_rejection_is_final(use_case, submitter):
    review = submitted(use_case, submitter)
    workflow.review_decide(review=review, reviewer=reviewer("legal"), verdict="reject", comment="no")

    use_case.refresh_from_db()
    assert use_case.status == S.REJECTED
    with pytest.raises(ValidationError):
        workflow.use_case_submit(use_case=use_case, actor=submitter)


def test_a_material_change_goes_back_to_review_while_the_approval_keeps_serving(use_case, submitter):
    approve_low(use_case, submitter)
    use_case.refresh_from_db()

    workflow.intake_save(
        use_case=use_case, actor=submitter, **LOW_RISK, autonomy="autonomous", tools_and_actions=["refund"]
    )

    use_case.refresh_from_db()
    assert use_case.status == S.SUBMITTED
    assert Review.objects.filter(use_case=use_case, status="open", material_change=True).exists()
    assert use_case.approvals.filter(status="current").exists()


# ---- the gateway enforces the approval ----


def chat(key: str, model: str = "chat"):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def production_key(use_case) -> str:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return issue_key(use_case, ApiKey.Environment.PRODUCTION)[1]


def test_a_production_key_works_once_the_board_approved(use_case, submitter):
    key = production_key(use_case)
    assert chat(key).json()["error"]["code"] == "use_case_not_approved"

    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter)

    assert chat(key).status_code == 200


def test_an_alias_outside_the_approval_is_refused_with_model_not_approved(use_case, submitter):
    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter)
        use_case.aliases.add(AliasFactory(name="newer"))  # not reviewed yet
    key = production_key(use_case)

    error = chat(key, "newer").json()["error"]
    assert error["code"] == "model_not_approved"


def test_an_alias_not_approved_for_the_data_classification_is_refused(submitter):
    alias = AliasFactory(name="public-only")
    workflow.model_approval_set(alias=alias, classifications=["public"], actor="platform")
    use_case = UseCaseFactory(status=S.DRAFT, aliases=[alias], data_classification="internal")
    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter)

    error = chat(production_key(use_case), "public-only").json()["error"]
    assert error["code"] == "model_not_approved" and "internal" in error["message"]


def test_an_expired_approval_is_refused(use_case, submitter):
    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter)
    key = production_key(use_case)

    with TestCase.captureOnCommitCallbacks(execute=True):
        assert workflow.approvals_expire_due(now=timezone.now() + dt.timedelta(days=366)) == 1

    error = chat(key).json()["error"]
    assert error["code"] == "use_case_not_approved" and "expired" in error["message"]
    use_case.refresh_from_db()
    assert use_case.status == S.EXPIRED


def test_a_suspended_use_case_is_refused_at_once(use_case, submitter):
    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter)
    key = production_key(use_case)
    assert chat(key).status_code == 200  # its principal is now cached

    with TestCase.captureOnCommitCallbacks(execute=True):
        workflow.use_case_suspend(use_case=use_case, actor="platform", reason="incident INC-7")

    error = chat(key).json()["error"]
    assert error["code"] == "use_case_not_approved" and "suspended" in error["message"]
    assert Approval.objects.get(use_case=use_case).status == "suspended"


def test_the_approvals_budget_cap_is_enforced_like_a_budget(use_case, submitter):
    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter, monthly_budget_cap_usd=Decimal("0.000001"))
    key = production_key(use_case)

    error = chat(key).json()["error"]

    assert error["code"] == "budget_exceeded"


def test_an_approval_pins_the_use_case_guardrail_version_the_board_reviewed(use_case, submitter):
    from governance.models import GuardrailPolicyRecord
    from governance.services.guardrail_policies import guardrail_draft_save, guardrail_publish

    record = GuardrailPolicyRecord.objects.create(scope="use_case", use_case=use_case, name="words")

    def publish(words):
        rule = {"check": "denied_words", "direction": "input", "action": "block", "words": words}
        with TestCase.captureOnCommitCallbacks(execute=True):
            draft = guardrail_draft_save(policy=record, document={"rules": [rule]}, actor="lob")
            return guardrail_publish(version=draft, actor="lob")

    publish(["alpha"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        approve_low(use_case, submitter, guardrail_policy_version="words@v1")
    publish(["alpha", "beta"])  # published after the review
    key = production_key(use_case)

    assert chat_text(key, "say beta").status_code == 200
    assert chat_text(key, "say alpha").json()["error"]["code"] == "guardrail_blocked"


def chat_text(key: str, content: str):
    body = {"model": "chat", "messages": [{"role": "user", "content": content}]}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
