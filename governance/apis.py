"""HTTP for the governance board, mounted at `api/v1/reviews/`: the queue, one review with what
changed since the previous round, a board member's decision (with evidence and, for an approval,
its conditions), and the evidence files.

Authorization is `access.permissions.RolePermission` on the central `review` object: the board
reads and decides, nobody else reaches these URLs (a LOB reads its own reviews under its use case,
`governance.lob_apis`). The services check again what is theirs: four-eyes, one decision
per member, a comment on every decision.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.exceptions import PermissionDenied as DrfPermissionDenied
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.management_api import ManagementPage, get_or_404
from model_catalog.models import Alias

from .evidence import evidence_response
from .models import Approval, Review, ReviewDecision
from .selectors import approval_current, missing_sign_offs, review_changes, reviews_for_board
from .services import workflow

#: Evidence larger than this is refused with a field error (a document, not a data dump).
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024


def service_error(error: Exception) -> Exception:
    """A service's refusal as the API's answer: field errors stay on their field, a rule is a 403."""
    if isinstance(error, DjangoPermissionDenied):
        return DrfPermissionDenied(str(error) or None)
    if isinstance(error, DjangoValidationError) and hasattr(error, "error_dict"):
        return ValidationError(error.message_dict)
    if isinstance(error, DjangoValidationError):
        return ValidationError({"detail": error.messages})
    return ValidationError({"detail": [str(error)]})


# ---- shared serializers (also the LOB's view of its reviews) ----


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reviewer = serializers.CharField(source="reviewer.username")
    specialty = serializers.CharField()
    verdict = serializers.ChoiceField(choices=ReviewDecision.Verdict.choices)
    comment = serializers.CharField()
    decided_at = serializers.DateTimeField()
    evidence_name = serializers.SerializerMethodField(help_text="The uploaded file's name; null without evidence.")
    evidence_url = serializers.SerializerMethodField(help_text="Where the caller downloads the evidence.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_evidence_name(self, decision: ReviewDecision) -> str | None:
        return decision.evidence.name.rsplit("/", 1)[-1] if decision.evidence else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_evidence_url(self, decision: ReviewDecision) -> str | None:
        if not decision.evidence:
            return None
        url_of = self.context.get("evidence_url")
        return url_of(decision) if url_of else None


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class ReviewSerializer(serializers.Serializer):
    """One review round: what was submitted, the LOB's answer to the previous round, the decisions,
    and what changed since the previous round."""

    id = serializers.IntegerField()
    lob = serializers.SlugField(source="use_case.lob.slug")
    use_case = serializers.SlugField(source="use_case.slug")
    use_case_name = serializers.CharField(source="use_case.name")
    status = serializers.ChoiceField(choices=Review.Status.choices)
    risk_tier = serializers.CharField()
    required_specialties = serializers.ListField(child=serializers.CharField())
    missing_sign_offs = serializers.SerializerMethodField()
    material_change = serializers.BooleanField()
    submitted_by = serializers.CharField(source="submitted_by.username")
    submitted_at = serializers.DateTimeField()
    sla_due_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    answer = serializers.SerializerMethodField(help_text="The LOB's answer to the previous round's requests.")
    snapshot = serializers.JSONField(help_text="The intake, models and data classification as submitted.")
    decisions = serializers.SerializerMethodField()
    changes_since_previous_round = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_missing_sign_offs(self, review: Review) -> list[str]:
        return missing_sign_offs(review) if review.status == Review.Status.OPEN else []

    @extend_schema_field(serializers.CharField())
    def get_answer(self, review: Review) -> str:
        return review.snapshot.get("answer", "")

    @extend_schema_field(DecisionSerializer(many=True))
    def get_decisions(self, review: Review) -> Any:
        return DecisionSerializer(review.decisions.all(), many=True, context=self.context).data

    @extend_schema_field(ChangeSerializer(many=True))
    def get_changes_since_previous_round(self, review: Review) -> Any:
        return ChangeSerializer(review_changes(review), many=True).data


class ApprovalSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Approval.Status.choices)
    approved_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    allowed_aliases = serializers.SerializerMethodField(help_text="The models it may call in production.")
    monthly_budget_cap_usd = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    prompt_capture = serializers.ChoiceField(choices=Approval.PromptCapture.choices)
    human_review_of_outputs = serializers.BooleanField()
    guardrail_policy_version = serializers.CharField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_allowed_aliases(self, approval: Approval) -> list[str]:
        return sorted(alias.name for alias in approval.allowed_aliases.all())


def board_evidence_url(decision: ReviewDecision) -> str:
    return reverse("governance:review-evidence", kwargs={"review_id": decision.review_id, "decision_id": decision.pk})


# ---- the board ----


class _ReviewApi(APIView):
    permission_classes = [RolePermission]
    access_object = "review"

    def review_of(self, review_id: int) -> Review:
        return get_or_404(reviews_for_board(status=None), pk=review_id)

    def context(self) -> dict[str, Any]:
        return {"evidence_url": board_evidence_url}


class ReviewListApi(_ReviewApi):
    """`GET /api/v1/reviews/`: the queue, soonest due first (`?status=open` by default, or `all`)."""

    pagination_class = ManagementPage

    @extend_schema(
        operation_id="review_list",
        tags=["governance board"],
        parameters=[OpenApiParameter("status", str, enum=[*Review.Status.values, "all"], description="Default: open.")],
        responses=ReviewSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status", Review.Status.OPEN)
        if wanted != "all" and wanted not in Review.Status.values:
            raise ValidationError({"status": [f"One of: {', '.join([*Review.Status.values, 'all'])}."]})
        queryset = reviews_for_board(status=None if wanted == "all" else wanted)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ReviewSerializer(page, many=True, context=self.context()).data)


class ReviewDetailApi(_ReviewApi):
    @extend_schema(operation_id="review_detail", tags=["governance board"], responses=ReviewSerializer)
    def get(self, request: Request, review_id: int) -> Response:
        return Response(ReviewSerializer(self.review_of(review_id), context=self.context()).data)


class ReviewDecideApi(_ReviewApi):
    """A board member approves (with the conditions the gateway will enforce), requests changes or
    rejects, with a comment and optionally an evidence file (multipart). Four-eyes: nobody of the
    submitting LOB decides."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=ReviewDecision.Verdict.choices)
        comment = serializers.CharField(max_length=10_000)
        evidence = serializers.FileField(required=False, allow_null=True, help_text="A supporting document.")
        allowed_aliases = serializers.SlugRelatedField(
            many=True,
            slug_field="name",
            queryset=Alias.objects.all(),
            required=False,
            help_text="Approve: the models it may call (default: every model reviewed).",
        )
        expires_at = serializers.DateTimeField(required=False, help_text="Default: the tier's validity.")
        monthly_budget_cap_usd = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
        )
        prompt_capture = serializers.ChoiceField(choices=Approval.PromptCapture.choices, required=False)
        human_review_of_outputs = serializers.BooleanField(required=False)
        guardrail_policy_version = serializers.CharField(max_length=64, required=False, allow_blank=True)

        class Meta:
            ref_name = "ReviewDecide"

        def validate_evidence(self, evidence: Any) -> Any:
            if evidence is not None and evidence.size > MAX_EVIDENCE_BYTES:
                raise ValidationError(f"At most {MAX_EVIDENCE_BYTES // (1024 * 1024)} MB.")
            return evidence

        def validate_allowed_aliases(self, aliases: list[Alias]) -> list[Alias]:
            reviewed = set(self.context["review"].snapshot.get("aliases", []))
            foreign = sorted({a.name for a in aliases} - reviewed)
            if foreign:
                raise ValidationError(f"Not among the models reviewed: {', '.join(foreign)}.")
            return aliases

        def validate_comment(self, comment: str) -> str:
            if not comment.strip():
                raise ValidationError("Every decision needs a comment.")
            return comment

        def conditions(self) -> dict[str, Any] | None:
            data = self.validated_data
            if data["verdict"] != ReviewDecision.Verdict.APPROVE:
                return None
            names = (
                "allowed_aliases",
                "expires_at",
                "monthly_budget_cap_usd",
                "prompt_capture",
                "human_review_of_outputs",
                "guardrail_policy_version",
            )
            return {name: data[name] for name in names if name in data and data[name] not in (None, [])}

    @extend_schema(
        operation_id="review_decide",
        tags=["governance board"],
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
        responses=ReviewSerializer,
    )
    def post(self, request: Request, review_id: int) -> Response:
        review = self.review_of(review_id)
        data = self.InputSerializer(data=request.data, context={"review": review})
        data.is_valid(raise_exception=True)
        try:
            decided = workflow.review_decide(
                review=review,
                reviewer=request.user,
                verdict=data.validated_data["verdict"],
                comment=data.validated_data["comment"],
                evidence=data.validated_data.get("evidence"),
                conditions=data.conditions(),
            )
        except (DjangoValidationError, DjangoPermissionDenied) as error:
            raise service_error(error) from error
        return Response(ReviewSerializer(self.review_of(decided.pk), context=self.context()).data)


class ReviewEvidenceApi(_ReviewApi):
    """Downloads one decision's evidence file (an attachment)."""

    @extend_schema(
        operation_id="review_evidence",
        tags=["governance board"],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, review_id: int, decision_id: int) -> FileResponse:
        decision = ReviewDecision.objects.filter(review=self.review_of(review_id), pk=decision_id).first()
        if decision is None or not decision.evidence:
            raise NotFound()
        return evidence_response(decision)


# ---- suspending and reinstating the use case a review approved ----


class UseCaseStatusSerializer(serializers.Serializer):
    lob = serializers.SlugField(source="lob.slug")
    use_case = serializers.SlugField(source="slug")
    status = serializers.CharField(help_text="The use case's governance status.")
    approval = serializers.SerializerMethodField(help_text="The approval production runs under; null without one.")

    @extend_schema_field(ApprovalSerializer(allow_null=True))
    def get_approval(self, use_case: Any) -> Any:
        approval = approval_current(use_case)
        return ApprovalSerializer(approval).data if approval else None


class _ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why, for the LOB and the audit log.")

    class Meta:
        ref_name = "BoardReason"


class _UseCaseSuspensionApi(_ReviewApi):
    """Suspends or reinstates the use case this review is about (the board: `review` write)."""

    def use_case_change(self, change: Any, request: Request, review_id: int) -> Response:
        use_case = self.review_of(review_id).use_case
        data = _ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            change(use_case=use_case, actor=request.user, reason=data.validated_data["reason"])
        except (DjangoValidationError, DjangoPermissionDenied) as error:
            raise service_error(error) from error
        use_case.refresh_from_db()
        return Response(UseCaseStatusSerializer(use_case).data)


class UseCaseSuspendApi(_UseCaseSuspensionApi):
    """Stops the use case's production traffic at once; its approval is suspended, not ended."""

    @extend_schema(
        operation_id="use_case_suspend",
        tags=["governance board"],
        request=_ReasonInputSerializer,
        responses=UseCaseStatusSerializer,
    )
    def post(self, request: Request, review_id: int) -> Response:
        return self.use_case_change(workflow.use_case_suspend, request, review_id)


class UseCaseReinstateApi(_UseCaseSuspensionApi):
    """Lifts a suspension while the suspended approval has not expired."""

    @extend_schema(
        operation_id="use_case_reinstate",
        tags=["governance board"],
        request=_ReasonInputSerializer,
        responses=UseCaseStatusSerializer,
    )
    def post(self, request: Request, review_id: int) -> Response:
        return self.use_case_change(workflow.use_case_reinstate, request, review_id)
