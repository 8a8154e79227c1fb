"""`POST /api/v1/lobs/onboard/`: the central team onboards a LOB with its first admin (`lob` in `central`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.api_errors import field_errors

from .onboarding import lob_onboard
from .permissions import RolePermission


class OnboardedSerializer(serializers.Serializer):
    slug = serializers.CharField(source="lob.slug")
    name = serializers.CharField(source="lob.name")
    admin = serializers.CharField(source="admin.username")
    admin_created = serializers.BooleanField()


class LobOnboardApi(APIView):
    permission_classes = [RolePermission]
    access_object = "lob"

    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200)
        business_owner = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
        cost_center = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
        admin_username = serializers.CharField(max_length=150)
        admin_email = serializers.EmailField(required=False, default="", allow_blank=True)

        class Meta:
            ref_name = "LobOnboardInput"

    @extend_schema(
        operation_id="lob_onboard",
        tags=["lines of business"],
        request=InputSerializer,
        responses={201: OnboardedSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            onboarded = lob_onboard(**data.validated_data, actor=request.user)
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(OnboardedSerializer(onboarded).data, status=status.HTTP_201_CREATED)
