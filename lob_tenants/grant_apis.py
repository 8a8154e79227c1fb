"""HTTP for a LOB's grants of its prompt templates to other LOBs' use cases (`grants/` under
`lobs/<lob>/`, in the URL namespace `access` with the LOB's members and break-glass decisions).

Sharing names use cases, so it sits above access control with the use cases; authorization is
access's `RolePermission`, and `services.object_share` checks again that only the owning LOB's
admins share.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.management_api import ManagementPage, paginated_response

from . import selectors, services
from .models import Lob, PromptTemplate


class GrantSerializer(serializers.Serializer):
    template = serializers.CharField(source="content_object.name")
    version = serializers.IntegerField(source="content_object.version")
    use_case = serializers.CharField(source="group.use_case", help_text="`<lob>/<use case>` that may read it.")
    permission = serializers.CharField(source="permission.codename")


class _GrantInputSerializer(serializers.Serializer):
    template = serializers.SlugField(max_length=100, help_text="A prompt template of this LOB.")
    version = serializers.IntegerField(min_value=1)
    use_case = serializers.RegexField(
        r"^[-a-zA-Z0-9_]+/[-a-zA-Z0-9_]+$", help_text="`<lob>/<use case>` of another LOB."
    )

    class Meta:
        ref_name = "GrantChange"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        lob: Lob = self.context["lob"]
        template = PromptTemplate.objects.filter(lob=lob, name=attrs["template"], version=attrs["version"]).first()
        if template is None:
            raise ValidationError({"template": ["This LOB has no such prompt template version."]})
        try:
            use_case = selectors.use_case_to_share_with(owner_lob=lob, reference=attrs["use_case"])
        except DjangoValidationError as error:
            raise ValidationError({"use_case": error.messages}) from error
        return {"template": template, "use_case": use_case}


class GrantListApi(APIView):
    """The grants this LOB has given on its prompt templates."""

    permission_classes = [RolePermission]
    access_object = "grant"
    pagination_class = ManagementPage
    lob: Lob

    @extend_schema(operation_id="grant_list", tags=["grants"], responses=GrantSerializer(many=True))
    def get(self, request: Request, lob: str) -> Response:
        return paginated_response(
            view=self,
            request=request,
            queryset=selectors.prompt_template_grants_of(self.lob),
            serializer=GrantSerializer,
        )


class GrantShareApi(APIView):
    """Lets another LOB's use case read one version of this LOB's prompt template (LOB admins only)."""

    permission_classes = [RolePermission]
    access_object = "grant"
    lob: Lob

    @extend_schema(
        operation_id="grant_share", tags=["grants"], request=_GrantInputSerializer, responses={201: GrantSerializer}
    )
    def post(self, request: Request, lob: str) -> Response:
        data = _GrantInputSerializer(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        template, use_case = data.validated_data["template"], data.validated_data["use_case"]
        services.object_share(obj=template, owner_lob=self.lob, use_case=use_case, actor=request.user)
        grant = selectors.prompt_template_grants_of(self.lob).get(content_object=template, group__use_case=use_case)
        return Response(GrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantUnshareApi(APIView):
    permission_classes = [RolePermission]
    access_object = "grant"
    lob: Lob

    @extend_schema(operation_id="grant_unshare", tags=["grants"], request=_GrantInputSerializer, responses={204: None})
    def post(self, request: Request, lob: str) -> Response:
        data = _GrantInputSerializer(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        template, use_case = data.validated_data["template"], data.validated_data["use_case"]
        grants = selectors.prompt_template_grants_of(self.lob)
        if not grants.filter(content_object=template, group__use_case=use_case).exists():
            raise ValidationError({"use_case": ["This template is not shared with this use case."]})
        services.object_unshare(obj=template, owner_lob=self.lob, use_case=use_case, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
