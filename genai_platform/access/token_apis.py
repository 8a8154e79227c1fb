"""HTTP for a person's own management-API tokens, mounted at `api/v1/tokens/`: list, issue, revoke.

Open to every signed-in person (`RolePermission` with no access object): a token acts as its
owner, so owning one grants nothing the owner's roles do not. Each person sees and revokes only
their own tokens; another person's prefix is a 404 like an unknown one.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.api_errors import field_errors
from genai_platform.management_api import ManagementPage, get_or_404, paginated_response
from genai_platform.tenancy.models import Lob

from .models import PersonalApiToken
from .permissions import RolePermission
from .tokens import personal_token_issue, personal_token_revoke, personal_tokens_of


class TokenSerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    scope = serializers.ChoiceField(choices=PersonalApiToken.Scope.choices)
    lob = serializers.CharField(source="lob.slug", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(help_text="The whole token: shown in this response only, never again.")


class TokenListApi(APIView):
    permission_classes = [RolePermission]
    access_object = None
    pagination_class = ManagementPage

    @extend_schema(operation_id="token_list", tags=["tokens"], responses=TokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(
            view=self, request=request, queryset=personal_tokens_of(request.user), serializer=TokenSerializer
        )


class TokenIssueApi(APIView):
    """Issues the caller a token. Its plaintext is in this response and nowhere else."""

    permission_classes = [RolePermission]
    access_object = None

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scope = serializers.ChoiceField(choices=PersonalApiToken.Scope.choices, default=PersonalApiToken.Scope.READ)
        lob = serializers.SlugField(required=False, allow_null=True, help_text="Limit the token to this LOB.")
        expires_in_days = serializers.IntegerField(min_value=1, max_value=366, default=30)

        class Meta:
            ref_name = "TokenIssueInput"

    @extend_schema(
        operation_id="token_issue", tags=["tokens"], request=InputSerializer, responses={201: IssuedTokenSerializer}
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lob = None
        if data.validated_data.get("lob"):
            lob = Lob.objects.filter(slug=data.validated_data["lob"], memberships__user=request.user).first()
            if lob is None:
                raise field_errors(DjangoValidationError({"lob": "You are not a member of this LOB."}))
        current = request.auth if isinstance(request.auth, PersonalApiToken) else None
        try:
            issued = personal_token_issue(
                user=request.user,
                name=data.validated_data["name"],
                scope=data.validated_data["scope"],
                lob=lob,
                expires_at=timezone.now() + dt.timedelta(days=data.validated_data["expires_in_days"]),
                issued_with=current,
                actor=request.user,
            )
        except DjangoValidationError as error:
            raise field_errors(error) from None
        body = {**TokenSerializer(issued.token).data, "token": issued.plaintext}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    permission_classes = [RolePermission]
    access_object = None

    @extend_schema(operation_id="token_revoke", tags=["tokens"], request=None, responses=TokenSerializer)
    def post(self, request: Request, prefix: str) -> Response:
        token = get_or_404(personal_tokens_of(request.user), prefix=prefix)
        return Response(TokenSerializer(personal_token_revoke(token=token, actor=request.user)).data)
