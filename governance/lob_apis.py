"""HTTP for a LOB's side of governance, under one use case (`api/v1/lobs/<lob>/use-cases/<slug>/`):
its governance status (intake with the computed tier, current approval and its conditions, every
review round with the board's comments), saving the intake draft, submitting (with an answer to
the requested changes), withdrawing, asking for a material change review, retiring, and
downloading the evidence the board attached to its reviews.

The same `governance.workflow` services as the portal's use-case page; authorization is
`RolePermission` on `use_case` in the URL's LOB (admins and developers write, viewers read).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.management_api import get_or_404
from lob_tenants.models import DataClassification, Lob, UseCase
from lob_tenants.selectors import use_cases_of

from .apis import ApprovalSerializer, ReviewSerializer, service_error
from .evidence import evidence_response
from .models import Intake, ReviewDecision
from .selectors import approval_current, intake_of, reviews_of
from .services import workflow

#: Jurisdiction codes as ISO 3166: a country, or a country and its subdivision ("EU" counts as one).
JURISDICTION = r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"


class IntakeSerializer(serializers.Serializer):
    """Every answer of the intake, each validated on its own so a mistake is reported on its field."""

    data_classification = serializers.ChoiceField(
        choices=DataClassification.choices, help_text="The most sensitive data it will process."
    )
    business_problem = serializers.CharField(max_length=10_000)
    intended_outcome = serializers.CharField(max_length=10_000)
    success_metrics = serializers.CharField(max_length=10_000)
    business_owner = serializers.CharField(max_length=200)
    people_affected = serializers.CharField(max_length=10_000, help_text="Who is affected by the outputs, how many.")
    customer_facing = serializers.BooleanField()
    personal_data = serializers.BooleanField()
    jurisdictions = serializers.ListField(
        child=serializers.RegexField(JURISDICTION, error_messages={"invalid": "Use codes like EU, US or US-CA."}),
        allow_empty=True,
        max_length=50,
    )
    autonomy = serializers.ChoiceField(choices=Intake.Autonomy.choices)
    tools_and_actions = serializers.ListField(
        child=serializers.CharField(max_length=200),
        allow_empty=True,
        max_length=50,
        help_text="Actions it may take on its own.",
    )
    expected_monthly_requests = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    monthly_budget_usd = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    annex_iii_area = serializers.ChoiceField(choices=Intake.AnnexIIIArea.choices)
    prohibited_practice = serializers.ChoiceField(choices=Intake.ProhibitedPractice.choices)
    generates_synthetic_media = serializers.BooleanField(help_text="Images, audio or video.")

    class Meta:
        ref_name = "IntakeAnswers"


class IntakeOutSerializer(IntakeSerializer):
    risk_tier = serializers.CharField(help_text="Computed from the answers (governance.tiering).")
    tier_reasons = serializers.ListField(child=serializers.CharField())
    eu_ai_act_category = serializers.CharField()
    eu_ai_act_category_label = serializers.CharField(source="get_eu_ai_act_category_display")
    updated_at = serializers.DateTimeField()
    data_classification = serializers.CharField(source="use_case.data_classification")

    class Meta:
        ref_name = "Intake"


class GovernanceStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=UseCase.Status.choices)
    data_classification = serializers.CharField()
    intake = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField(help_text="The approval in force, with its conditions and expiry.")
    reviews = serializers.SerializerMethodField(help_text="Every review round, newest first, with the decisions.")

    @extend_schema_field(IntakeOutSerializer(allow_null=True))
    def get_intake(self, use_case: UseCase) -> Any:
        intake = intake_of(use_case)
        return IntakeOutSerializer(intake).data if intake else None

    @extend_schema_field(ApprovalSerializer(allow_null=True))
    def get_approval(self, use_case: UseCase) -> Any:
        approval = approval_current(use_case)
        return ApprovalSerializer(approval).data if approval else None

    @extend_schema_field(ReviewSerializer(many=True))
    def get_reviews(self, use_case: UseCase) -> Any:
        return ReviewSerializer(reviews_of(use_case), many=True, context=self.context).data


def lob_evidence_url(decision: ReviewDecision) -> str:
    use_case = decision.review.use_case
    return reverse(
        "tenants:use-case-review-evidence",
        kwargs={
            "lob": use_case.lob.slug,
            "use_case": use_case.slug,
            "review_id": decision.review_id,
            "decision_id": decision.pk,
        },
    )


class _UseCaseGovernanceApi(APIView):
    permission_classes = [RolePermission]
    access_object = "use_case"
    lob: Lob

    def use_case_of(self, slug: str) -> UseCase:
        return get_or_404(use_cases_of(self.lob).select_related("lob"), slug=slug)

    def status_of(self, use_case: UseCase) -> Response:
        use_case.refresh_from_db()
        return Response(GovernanceStatusSerializer(use_case, context={"evidence_url": lob_evidence_url}).data)

    def run(self, service: Any, **kwargs: Any) -> None:
        try:
            service(**kwargs)
        except (DjangoValidationError, DjangoPermissionDenied) as error:
            raise service_error(error) from error


class UseCaseGovernanceApi(_UseCaseGovernanceApi):
    """`GET`: the use case's status, intake and computed tier, approval with conditions, reviews."""

    @extend_schema(
        operation_id="use_case_governance", tags=["use case governance"], responses=GovernanceStatusSerializer
    )
    def get(self, request: Request, lob: str, use_case: str) -> Response:
        return self.status_of(self.use_case_of(use_case))


class IntakeSaveApi(_UseCaseGovernanceApi):
    """Saves the intake draft (every answer) and computes the risk tier, its reasons and the EU AI
    Act category, to read before submitting. Nothing is written when any answer is refused."""

    @extend_schema(
        operation_id="use_case_intake_save",
        tags=["use case governance"],
        request=IntakeSerializer,
        responses=GovernanceStatusSerializer,
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = self.use_case_of(use_case)
        data = IntakeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.run(workflow.intake_save, use_case=found, actor=request.user, **data.validated_data)
        return self.status_of(found)


class UseCaseSubmitApi(_UseCaseGovernanceApi):
    """Submits the use case to the governance board (again, after changes were requested: with an
    answer saying what changed)."""

    class InputSerializer(serializers.Serializer):
        answer = serializers.CharField(
            max_length=10_000,
            required=False,
            allow_blank=True,
            default="",
            help_text="Required after changes were requested: what was changed, for the reviewers.",
        )

        class Meta:
            ref_name = "UseCaseSubmit"

    @extend_schema(
        operation_id="use_case_submit",
        tags=["use case governance"],
        request=InputSerializer,
        responses={201: GovernanceStatusSerializer},
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = self.use_case_of(use_case)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.run(workflow.use_case_submit, use_case=found, actor=request.user, answer=data.validated_data["answer"])
        response = self.status_of(found)
        response.status_code = 201
        return response


class _ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2_000, required=False, allow_blank=True, default="")

    class Meta:
        ref_name = "GovernanceReason"


class UseCaseWithdrawApi(_UseCaseGovernanceApi):
    """Takes a submitted use case back before the board decides; it becomes a draft again."""

    @extend_schema(
        operation_id="use_case_withdraw",
        tags=["use case governance"],
        request=_ReasonSerializer,
        responses=GovernanceStatusSerializer,
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = self.use_case_of(use_case)
        data = _ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.run(workflow.use_case_withdraw, use_case=found, actor=request.user, reason=data.validated_data["reason"])
        return self.status_of(found)


class UseCaseMaterialChangeApi(_UseCaseGovernanceApi):
    """Asks the board to review a change to an approved use case; the current approval keeps
    serving until the board decides."""

    class InputSerializer(serializers.Serializer):
        what = serializers.CharField(max_length=2_000, help_text="What changes (a model, a tool, the data, ...).")

        class Meta:
            ref_name = "UseCaseMaterialChange"

    @extend_schema(
        operation_id="use_case_material_change",
        tags=["use case governance"],
        request=InputSerializer,
        responses={201: GovernanceStatusSerializer},
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = self.use_case_of(use_case)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.run(
            workflow.use_case_material_change, use_case=found, actor=request.user, what=data.validated_data["what"]
        )
        response = self.status_of(found)
        response.status_code = 201
        return response


class UseCaseRetireApi(_UseCaseGovernanceApi):
    """Retires the use case for good: its approval ends and its production keys stop working."""

    @extend_schema(
        operation_id="use_case_retire", tags=["use case governance"], request=None, responses=GovernanceStatusSerializer
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = self.use_case_of(use_case)
        self.run(workflow.use_case_retire, use_case=found, actor=request.user)
        return self.status_of(found)


class UseCaseReviewEvidenceApi(_UseCaseGovernanceApi):
    """Downloads the evidence a board member attached to a decision on this use case."""

    @extend_schema(
        operation_id="use_case_review_evidence",
        tags=["use case governance"],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, lob: str, use_case: str, review_id: int, decision_id: int) -> FileResponse:
        found = self.use_case_of(use_case)
        decision = ReviewDecision.objects.filter(review__use_case=found, review_id=review_id, pk=decision_id).first()
        if decision is None or not decision.evidence:
            raise NotFound()
        return evidence_response(decision)
