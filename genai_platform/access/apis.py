"""HTTP for access control: a LOB's members, the grants of its prompt templates to other LOBs' use
cases, and break-glass access to its data.

Authorization is `RolePermission` (see `permissions.py`); the services check again where the rule
is theirs (only the owning LOB's admin shares; nobody approves their own break-glass request).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.management_api import ManagementPage, bad_request, get_or_404, paginated_response
from genai_platform.tenancy.models import Lob, Membership

from . import services
from .models import BreakGlassRequest
from .permissions import RolePermission
from .policy import WRITE

# ---- selectors for these views ----


def members_of(lob: Lob) -> QuerySet[Membership]:
    return Membership.objects.filter(lob=lob).select_related("user").order_by("user__username")


def break_glass_of(**scope: Any) -> QuerySet[BreakGlassRequest]:
    return BreakGlassRequest.objects.filter(**scope).select_related("lob", "requester", "decided_by")


def _admin_count(lob: Lob) -> int:
    return Membership.objects.filter(lob=lob, role=Membership.Role.LOB_ADMIN).count()


def _would_orphan(membership: Membership, new_role: str | None) -> bool:
    """Whether changing (or, with None, removing) this membership leaves its LOB without an admin."""
    return (
        membership.role == Membership.Role.LOB_ADMIN
        and new_role != Membership.Role.LOB_ADMIN
        and _admin_count(membership.lob) == 1
    )


# ---- members ----


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    since = serializers.DateTimeField(source="created_at")


class MemberListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "member"
    pagination_class = ManagementPage
    lob: Lob  # set by RolePermission

    @extend_schema(operation_id="member_list", tags=["members"], responses=MemberSerializer(many=True))
    def get(self, request: Request, lob: str) -> Response:
        return paginated_response(
            view=self, request=request, queryset=members_of(self.lob), serializer=MemberSerializer
        )


class MemberSetApi(APIView):
    """Gives a user a role in the LOB, or changes it (LOB admins only). A LOB always keeps one admin."""

    permission_classes = [RolePermission]
    access_object = "member"
    lob: Lob

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=Membership.Role.choices)

        class Meta:
            ref_name = "MemberSet"

        def validate_username(self, username: str) -> Any:
            user = get_user_model().objects.filter(username=username, is_active=True).first()
            if user is None:
                raise ValidationError("No active user with this username.")
            return user

    @extend_schema(operation_id="member_set", tags=["members"], request=InputSerializer, responses=MemberSerializer)
    def post(self, request: Request, lob: str) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, role = data.validated_data["username"], data.validated_data["role"]
        current = Membership.objects.filter(lob=self.lob, user=user).select_related("lob").first()
        if current is not None and _would_orphan(current, role):
            raise ValidationError({"role": ["This is the LOB's last admin: make someone else admin first."]})
        membership = services.membership_set(lob=self.lob, user=user, role=role, actor=request.user)
        return Response(MemberSerializer(membership).data)


class MemberRemoveApi(APIView):
    permission_classes = [RolePermission]
    access_object = "member"
    lob: Lob

    @extend_schema(operation_id="member_remove", tags=["members"], request=None, responses={204: None})
    def post(self, request: Request, lob: str, username: str) -> Response:
        membership = get_or_404(members_of(self.lob).select_related("lob"), user__username=username)
        if _would_orphan(membership, None):
            raise ValidationError({"detail": ["This is the LOB's last admin: make someone else admin first."]})
        services.membership_remove(membership=membership, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- break-glass ----


class BreakGlassSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    lob = serializers.SlugField(source="lob.slug")
    requester = serializers.CharField(source="requester.username")
    reason = serializers.CharField()
    duration_minutes = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BreakGlassRequest.Status.choices)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When approved access ends by itself.")
    created_at = serializers.DateTimeField()


class _BreakGlassFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=BreakGlassRequest.Status.choices, required=False)

    class Meta:
        ref_name = "BreakGlassFilter"


def _filtered(queryset: QuerySet[BreakGlassRequest], request: Request) -> QuerySet[BreakGlassRequest]:
    query = _BreakGlassFilterSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    if "status" in query.validated_data:
        queryset = queryset.filter(status=query.validated_data["status"])
    return queryset


def _decided(decide: Any, **kwargs: Any) -> BreakGlassRequest:
    try:
        return decide(**kwargs)
    except DjangoValidationError as error:
        raise bad_request(error) from error


class BreakGlassListApi(APIView):
    """The caller's own break-glass requests (central users)."""

    permission_classes = [RolePermission]
    access_object = "break_glass"
    pagination_class = ManagementPage

    @extend_schema(
        operation_id="break_glass_list_mine",
        tags=["break-glass"],
        parameters=[_BreakGlassFilterSerializer],
        responses=BreakGlassSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        requests = _filtered(break_glass_of(requester=request.user), request)
        return paginated_response(view=self, request=request, queryset=requests, serializer=BreakGlassSerializer)


class BreakGlassRequestApi(APIView):
    """A central user asks to read one LOB's data for a while, saying why; that LOB's admin decides."""

    permission_classes = [RolePermission]
    access_object = "break_glass"

    class InputSerializer(serializers.Serializer):
        lob = serializers.SlugField()
        reason = serializers.CharField(min_length=20, help_text="Why, e.g. the incident number.")
        duration_minutes = serializers.IntegerField(min_value=1, max_value=services.MAX_BREAK_GLASS_MINUTES)

        class Meta:
            ref_name = "BreakGlassAsk"

        def validate_lob(self, slug: str) -> Lob:
            lob = Lob.objects.filter(slug=slug).first()
            if lob is None:
                raise ValidationError("No line of business with this slug.")
            return lob

    @extend_schema(
        operation_id="break_glass_request",
        tags=["break-glass"],
        request=InputSerializer,
        responses={201: BreakGlassSerializer},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        asked = _decided(services.break_glass_request, requester=request.user, **data.validated_data)
        return Response(BreakGlassSerializer(asked).data, status=status.HTTP_201_CREATED)


class BreakGlassRevokeApi(APIView):
    """The requester ends their own approved access early."""

    permission_classes = [RolePermission]
    access_object = "break_glass"

    @extend_schema(
        operation_id="break_glass_revoke_mine", tags=["break-glass"], request=None, responses=BreakGlassSerializer
    )
    def post(self, request: Request, request_id: int) -> Response:
        asked = get_or_404(break_glass_of(requester=request.user), pk=request_id)
        ended = _decided(services.break_glass_revoke, request=asked, actor=request.user)
        return Response(BreakGlassSerializer(ended).data)


class LobBreakGlassListApi(APIView):
    """Requests to read this LOB's data (`?status=pending` for the decision queue): its admins'."""

    permission_classes = [RolePermission]
    access_object = "break_glass"
    access_action = WRITE  # the queue belongs to those who decide; the policy gives LOB admins `write`
    pagination_class = ManagementPage
    lob: Lob

    @extend_schema(
        operation_id="break_glass_list_for_lob",
        tags=["break-glass"],
        parameters=[_BreakGlassFilterSerializer],
        responses=BreakGlassSerializer(many=True),
    )
    def get(self, request: Request, lob: str) -> Response:
        requests = _filtered(break_glass_of(lob=self.lob), request)
        return paginated_response(view=self, request=request, queryset=requests, serializer=BreakGlassSerializer)


class _LobBreakGlassDecisionApi(APIView):
    permission_classes = [RolePermission]
    access_object = "break_glass"
    lob: Lob

    def request_of(self, request_id: int) -> BreakGlassRequest:
        return get_or_404(break_glass_of(lob=self.lob), pk=request_id)


class BreakGlassApproveApi(_LobBreakGlassDecisionApi):
    """Approves a pending request: access starts now and ends after its duration."""

    @extend_schema(
        operation_id="break_glass_approve", tags=["break-glass"], request=None, responses=BreakGlassSerializer
    )
    def post(self, request: Request, lob: str, request_id: int) -> Response:
        decided = _decided(
            services.break_glass_decide, request=self.request_of(request_id), approver=request.user, approve=True
        )
        return Response(BreakGlassSerializer(decided).data)


class BreakGlassDenyApi(_LobBreakGlassDecisionApi):
    @extend_schema(operation_id="break_glass_deny", tags=["break-glass"], request=None, responses=BreakGlassSerializer)
    def post(self, request: Request, lob: str, request_id: int) -> Response:
        decided = _decided(
            services.break_glass_decide, request=self.request_of(request_id), approver=request.user, approve=False
        )
        return Response(BreakGlassSerializer(decided).data)


class LobBreakGlassRevokeApi(_LobBreakGlassDecisionApi):
    """The LOB's admin ends approved access early."""

    @extend_schema(
        operation_id="break_glass_revoke_for_lob", tags=["break-glass"], request=None, responses=BreakGlassSerializer
    )
    def post(self, request: Request, lob: str, request_id: int) -> Response:
        ended = _decided(services.break_glass_revoke, request=self.request_of(request_id), actor=request.user)
        return Response(BreakGlassSerializer(ended).data)
