"""Shared steps of the approval workflow for governance tests."""

from __future__ import annotations

from genai_platform.access.services import central_role_grant
from governance.models import Review
from governance.services import workflow
from tests.factories import UserFactory

LOW_RISK = {
    "business_problem": "Agents spend long on routine answers.",
    "intended_outcome": "Drafts that agents review.",
    "success_metrics": "Handling time down 20%.",
    "business_owner": "Owner",
    "people_affected": "Support agents.",
}


def reviewer(specialty: str):
    user = UserFactory()
    central_role_grant(user=user, role="governance_reviewer", specialty=specialty)
    return user


def submitted(use_case, submitter, **answers) -> Review:
    workflow.intake_save(use_case=use_case, actor=submitter, **{**LOW_RISK, **answers})
    return workflow.use_case_submit(use_case=use_case, actor=submitter)


def approve_low(use_case, submitter, **conditions) -> Review:
    review = submitted(use_case, submitter)
    return workflow.review_decide(
        review=review, reviewer=reviewer("business"), verdict="approve", comment="fine", conditions=conditions
    )
