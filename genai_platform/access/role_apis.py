"""HTTP for who holds central roles and for the policy lines themselves, mounted at `api/v1/`:
`central-roles/` and `policy-rules/`.

No policy line grants `central_role` or `policy`, so only superusers (everything in `central`) pass
`RolePermission` here, as in the portal's pages for the same rows. Writes go through
`access.services`, which audit them and announce the change so every process reloads the policy.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.management_api import ManagementPage, get_or_404, paginated_response

from . import services
from .models import CentralRoleAssignment, PolicyRule
from .permissions import RolePermission
from .policy import POLICY_ACTIONS, POLICY_DOMAIN, POLICY_OBJECT, POLICY_ROLE


def central_roles() -> QuerySet[CentralRoleAssignment]:
    return CentralRoleAssignment.objects.select_related("user").order_by("user__username", "role")


# ---- central roles ----


class CentralRoleSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=CentralRoleAssignment.Role.choices)
    specialty = serializers.CharField(help_text="A board member's specialty; empty for a platform admin.")


class CentralRoleListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "central_role"
    pagination_class = ManagementPage

    @extend_schema(
        operation_id="central_role_list", tags=["people and roles"], responses=CentralRoleSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            view=self, request=request, queryset=central_roles(), serializer=CentralRoleSerializer
        )


class CentralRoleGrantApi(APIView):
    """Makes a user a platform admin or a board member (with a specialty), or changes the specialty."""

    permission_classes = [RolePermission]
    access_object = "central_role"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=CentralRoleAssignment.Role.choices)
        specialty = serializers.ChoiceField(
            choices=CentralRoleAssignment.Specialty.choices, required=False, allow_blank=True, default=""
        )

        class Meta:
            ref_name = "CentralRoleGrant"

        def validate_username(self, username: str) -> Any:
            user = get_user_model().objects.filter(username=username, is_active=True).first()
            if user is None:
                raise ValidationError("No active user with this username.")
            return user

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            reviewer = attrs["role"] == CentralRoleAssignment.Role.GOVERNANCE_REVIEWER
            if reviewer and not attrs["specialty"]:
                raise ValidationError({"specialty": ["A board member reviews with a specialty."]})
            if not reviewer and attrs["specialty"]:
                raise ValidationError({"specialty": ["Only a board member has a specialty."]})
            return attrs

    @extend_schema(
        operation_id="central_role_grant",
        tags=["people and roles"],
        request=InputSerializer,
        responses=CentralRoleSerializer,
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        granted = services.central_role_grant(
            user=values["username"], role=values["role"], specialty=values["specialty"], actor=request.user
        )
        return Response(CentralRoleSerializer(granted).data)


# ---- policy lines ----


class PolicyRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    domain = serializers.CharField()
    obj = serializers.CharField()
    act = serializers.CharField()


class PolicyRuleListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "policy"
    pagination_class = ManagementPage

    @extend_schema(
        operation_id="policy_rule_list", tags=["people and roles"], responses=PolicyRuleSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        rules = PolicyRule.objects.all()
        return paginated_response(view=self, request=request, queryset=rules, serializer=PolicyRuleSerializer)


class PolicyRuleAddApi(APIView):
    """Adds a line `p, role, domain, object, action` (adding an existing line changes nothing)."""

    permission_classes = [RolePermission]
    access_object = "policy"

    class InputSerializer(serializers.Serializer):
        role = serializers.RegexField(POLICY_ROLE, max_length=64, help_text="e.g. `lob_developer`.")
        domain = serializers.RegexField(POLICY_DOMAIN, max_length=100, help_text="`*`, `central` or `lob:<slug>`.")
        obj = serializers.RegexField(POLICY_OBJECT, max_length=64, help_text="What it acts on, e.g. `use_case`.")
        act = serializers.ChoiceField(choices=POLICY_ACTIONS)

        class Meta:
            ref_name = "PolicyRuleAdd"

    @extend_schema(
        operation_id="policy_rule_add",
        tags=["people and roles"],
        request=InputSerializer,
        responses={201: PolicyRuleSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.policy_rule_add(**data.validated_data, actor=request.user)
        return Response(PolicyRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class PolicyRuleRemoveApi(APIView):
    permission_classes = [RolePermission]
    access_object = "policy"

    @extend_schema(operation_id="policy_rule_remove", tags=["people and roles"], request=None, responses={204: None})
    def post(self, request: Request, rule_id: int) -> Response:
        services.policy_rule_remove(rule=get_or_404(PolicyRule.objects.all(), pk=rule_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
