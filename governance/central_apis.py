"""The central team's governance controls in the management API: model approvals per data
classification (`model-approvals/`) and guardrail policies drafted, diffed, shadowed and published
(`guardrail-policies/`). Each write calls the same audited service as the portal's forms.

Authorization is `RolePermission` in `central`: model approvals are part of the catalog (`catalog`:
platform admins write, governance reviewers read); policies are `guardrail_policy` (platform admins).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.api_errors import field_errors
from genai_platform.management_api import get_or_404
from lob_tenants.models import DataClassification, Lob, UseCase
from model_catalog.models import Alias

from .models import GuardrailPolicyRecord, GuardrailPolicyVersion
from .selectors import guardrail_policies, guardrail_versions, model_approvals, version_previous, versions_diff
from .services.guardrail_policies import guardrail_publish
from .services.policy_authoring import guardrail_policy_draft
from .services.workflow import model_approval_set
from .shadow_rollout import shadow_report

# ---- model approvals ----


class ModelApprovalSerializer(serializers.Serializer):
    alias = serializers.CharField(source="alias.name")
    classifications = serializers.ListField(child=serializers.ChoiceField(choices=DataClassification.choices))
    approved_by = serializers.CharField()
    approved_at = serializers.DateTimeField()


class ModelApprovalListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "catalog"

    @extend_schema(
        operation_id="model_approval_list", tags=["model approvals"], responses=ModelApprovalSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        return Response(ModelApprovalSerializer(model_approvals(), many=True).data)


class ModelApprovalSetApi(APIView):
    """Sets the data classifications an alias may receive (replacing the previous set)."""

    permission_classes = [RolePermission]
    access_object = "catalog"

    class InputSerializer(serializers.Serializer):
        alias = serializers.SlugRelatedField(slug_field="name", queryset=Alias.objects.all())
        classifications = serializers.ListField(
            child=serializers.ChoiceField(choices=DataClassification.choices), allow_empty=True
        )

        class Meta:
            ref_name = "ModelApprovalSetInput"

    @extend_schema(
        operation_id="model_approval_set",
        tags=["model approvals"],
        request=InputSerializer,
        responses=ModelApprovalSerializer,
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            approval = model_approval_set(
                alias=data.validated_data["alias"],
                classifications=data.validated_data["classifications"],
                actor=request.user,
            )
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(ModelApprovalSerializer(approval).data)


# ---- guardrail policies ----


class VersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    policy = serializers.CharField(source="policy.name")
    scope = serializers.CharField(source="policy.scope")
    number = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    mode = serializers.CharField()
    fingerprint = serializers.CharField()
    document = serializers.JSONField()
    published_at = serializers.DateTimeField(allow_null=True)
    published_by = serializers.CharField()


class PolicySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    scope = serializers.CharField()
    lob = serializers.SerializerMethodField()
    use_case = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    def get_lob(self, record: GuardrailPolicyRecord) -> str | None:
        return record.lob.slug if record.lob_id else None

    def get_use_case(self, record: GuardrailPolicyRecord) -> str | None:
        return f"{record.use_case.lob.slug}/{record.use_case.slug}" if record.use_case_id else None

    def get_versions(self, record: GuardrailPolicyRecord) -> list[dict[str, Any]]:
        return [
            {"id": v.pk, "number": v.number, "status": v.status, "mode": v.mode, "fingerprint": v.fingerprint}
            for v in record.versions.all()
        ]


class GuardrailPolicyListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "guardrail_policy"

    @extend_schema(
        operation_id="guardrail_policy_list", tags=["guardrail policies"], responses=PolicySerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        return Response(PolicySerializer(guardrail_policies(), many=True).data)


class GuardrailDraftApi(APIView):
    """Saves a policy's draft (the policy is created with its first draft). A LOB or use-case draft
    that loosens anything above it is refused, naming each rule."""

    permission_classes = [RolePermission]
    access_object = "guardrail_policy"

    class InputSerializer(serializers.Serializer):
        scope = serializers.ChoiceField(choices=GuardrailPolicyRecord.Scope.choices)
        name = serializers.SlugField(max_length=100)
        lob = serializers.SlugRelatedField(slug_field="slug", queryset=Lob.objects.all(), required=False)
        use_case = serializers.RegexField(r"^[-\w]+/[-\w]+$", required=False, help_text="`<lob>/<use case>`.")
        document = serializers.JSONField(help_text='The policy document: {"rules": [...]}.')

        class Meta:
            ref_name = "GuardrailDraftInput"

        def validate_use_case(self, value: str) -> UseCase:
            lob, _, slug = value.partition("/")
            use_case = UseCase.objects.filter(lob__slug=lob, slug=slug).select_related("lob").first()
            if use_case is None:
                raise serializers.ValidationError("No such use case.")
            return use_case

        def validate_document(self, value: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise serializers.ValidationError('A JSON object, e.g. {"rules": [...]}.')
            return value

    @extend_schema(
        operation_id="guardrail_policy_draft_save",
        tags=["guardrail policies"],
        request=InputSerializer,
        responses={201: VersionSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            draft = guardrail_policy_draft(
                scope=values["scope"],
                name=values["name"],
                document=values["document"],
                actor=request.user,
                lob=values.get("lob"),
                use_case=values.get("use_case"),
            )
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(VersionSerializer(draft).data, status=status.HTTP_201_CREATED)


class GuardrailVersionDetailApi(APIView):
    permission_classes = [RolePermission]
    access_object = "guardrail_policy"

    @extend_schema(operation_id="guardrail_version_detail", tags=["guardrail policies"], responses=VersionSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        return Response(VersionSerializer(get_or_404(guardrail_versions(), pk=version_id)).data)


class DiffSerializer(serializers.Serializer):
    older = VersionSerializer(allow_null=True)
    newer = VersionSerializer()
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = serializers.ListField(child=serializers.CharField())
    lines = serializers.ListField(child=serializers.CharField())


class GuardrailVersionDiffApi(APIView):
    """This version against `?against=<id>` (another version of the same policy); by default a draft
    against the latest published version, a published version against the one before it."""

    permission_classes = [RolePermission]
    access_object = "guardrail_policy"

    @extend_schema(
        operation_id="guardrail_version_diff",
        tags=["guardrail policies"],
        responses=DiffSerializer,
        parameters=[OpenApiParameter("against", int, required=False)],
    )
    def get(self, request: Request, version_id: int) -> Response:
        newer = get_or_404(guardrail_versions(), pk=version_id)
        against = request.query_params.get("against", "")
        if against:
            older = get_or_404(
                guardrail_versions().filter(policy=newer.policy), pk=int(against) if against.isdigit() else 0
            )
        else:
            older = version_previous(newer)
        empty = {"added": [], "removed": [], "changed": [], "lines": []}
        diff = versions_diff(older, newer) if older is not None else empty
        body = {
            "older": VersionSerializer(older).data if older else None,
            "newer": VersionSerializer(newer).data,
            **diff,
        }
        return Response(body)


class GuardrailVersionPublishApi(APIView):
    """Publishes a draft: `enforced` at once, or `shadow` (detect-only beside the enforced version)."""

    permission_classes = [RolePermission]
    access_object = "guardrail_policy"

    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(
            choices=GuardrailPolicyVersion.Mode.choices, default=GuardrailPolicyVersion.Mode.ENFORCED
        )

        class Meta:
            ref_name = "GuardrailPublishInput"

    @extend_schema(
        operation_id="guardrail_version_publish",
        tags=["guardrail policies"],
        request=InputSerializer,
        responses=VersionSerializer,
    )
    def post(self, request: Request, version_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = get_or_404(guardrail_versions(), pk=version_id)
        try:
            published = guardrail_publish(version=version, actor=request.user, mode=data.validated_data["mode"])
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(VersionSerializer(published).data)


class GuardrailShadowReportApi(APIView):
    """How a version running in shadow would have acted, per check, beside the enforced policy."""

    permission_classes = [RolePermission]
    access_object = "guardrail_policy"

    @extend_schema(operation_id="guardrail_version_shadow_report", tags=["guardrail policies"], responses=dict)
    def get(self, request: Request, version_id: int) -> Response:
        version = get_or_404(guardrail_versions(), pk=version_id, mode=GuardrailPolicyVersion.Mode.SHADOW)
        return Response(shadow_report(version))
