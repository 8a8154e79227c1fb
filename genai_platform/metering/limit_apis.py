"""Budgets and rate limits in the management API, mounted at `api/v1/metering/`: the central
platform team sets the monthly budget of a LOB or use case and the per-minute limits of a LOB,
use case or key, through the same audited services as the portal (`budget` in `central`).

Keys are named by their public prefix: which keys a LOB has is its own business, so the lists
show LOB and use-case limits only, and a key's limit is set (and answered) by prefix.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.api_errors import field_errors
from lob_tenants.models import ApiKey, Lob, UseCase

from .models import Budget, RateLimit
from .services import budget_set, rate_limit_set


class UseCaseByPathField(serializers.RegexField):
    """A use case of any LOB as `<lob>/<use case>`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "`<lob>/<use case>`.")
        super().__init__(r"^[-\w]+/[-\w]+$", **kwargs)

    def to_internal_value(self, data: Any) -> UseCase:
        lob, _, slug = super().to_internal_value(data).partition("/")
        use_case = UseCase.objects.filter(lob__slug=lob, slug=slug).select_related("lob").first()
        if use_case is None:
            raise serializers.ValidationError("No such use case.")
        return use_case

    def to_representation(self, value: UseCase) -> str:
        return f"{value.lob.slug}/{value.slug}"


class OneScopeSerializer(serializers.Serializer):
    lob = serializers.SlugRelatedField(slug_field="slug", queryset=Lob.objects.all(), required=False)
    use_case = UseCaseByPathField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        named = [name for name in ("lob", "use_case", "key") if attrs.get(name) is not None]
        if len(named) != 1:
            allowed = " or ".join(f"`{n}`" for n in ("lob", "use_case", "key") if n in self.fields)
            raise serializers.ValidationError({"detail": f"Name exactly one of {allowed}."})
        return attrs


class BudgetSerializer(serializers.Serializer):
    lob = serializers.CharField(source="lob.slug", read_only=True, allow_null=True)
    use_case = UseCaseByPathField(read_only=True)
    monthly_limit_usd = serializers.DecimalField(max_digits=16, decimal_places=6)
    hard_limit = serializers.BooleanField()
    thresholds = serializers.ListField(child=serializers.IntegerField())
    notify_emails = serializers.CharField()
    webhook_url = serializers.CharField()


class RateLimitSerializer(serializers.Serializer):
    lob = serializers.CharField(source="lob.slug", read_only=True, allow_null=True)
    use_case = UseCaseByPathField(read_only=True)
    key = serializers.CharField(source="api_key.prefix", read_only=True, default=None)
    requests_per_minute = serializers.IntegerField(allow_null=True)
    tokens_per_minute = serializers.IntegerField(allow_null=True)


class BudgetListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "budget"

    @extend_schema(operation_id="budget_list", tags=["budgets and rate limits"], responses=BudgetSerializer(many=True))
    def get(self, request: Request) -> Response:
        budgets = Budget.objects.select_related("lob", "use_case__lob").order_by("lob__slug", "use_case__slug")
        return Response(BudgetSerializer(budgets, many=True).data)


class BudgetSetApi(APIView):
    """Creates or replaces the monthly budget of one LOB or one use case."""

    permission_classes = [RolePermission]
    access_object = "budget"

    class InputSerializer(OneScopeSerializer):
        monthly_limit_usd = serializers.DecimalField(max_digits=16, decimal_places=6, min_value=0)
        hard_limit = serializers.BooleanField(default=True)
        thresholds = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=1000), default=[50, 80, 100]
        )
        notify_emails = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
        webhook_url = serializers.URLField(required=False, allow_blank=True, default="")

        class Meta:
            ref_name = "BudgetSetInput"

    @extend_schema(
        operation_id="budget_set", tags=["budgets and rate limits"], request=InputSerializer, responses=BudgetSerializer
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            budget = budget_set(**data.validated_data, actor=request.user)
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(BudgetSerializer(budget).data)


class RateLimitListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "budget"

    @extend_schema(
        operation_id="rate_limit_list", tags=["budgets and rate limits"], responses=RateLimitSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        limits = RateLimit.objects.filter(api_key__isnull=True).select_related("lob", "use_case__lob")
        return Response(RateLimitSerializer(limits.order_by("lob__slug", "use_case__slug"), many=True).data)


class RateLimitSetApi(APIView):
    """Creates or replaces the per-minute limits of one LOB, one use case or one key (by prefix)."""

    permission_classes = [RolePermission]
    access_object = "budget"

    class InputSerializer(OneScopeSerializer):
        key = serializers.SlugRelatedField(
            slug_field="prefix", queryset=ApiKey.objects.all(), required=False, help_text="The key's public prefix."
        )
        requests_per_minute = serializers.IntegerField(min_value=1, allow_null=True, default=None)
        tokens_per_minute = serializers.IntegerField(min_value=1, allow_null=True, default=None)

        class Meta:
            ref_name = "RateLimitSetInput"

    @extend_schema(
        operation_id="rate_limit_set",
        tags=["budgets and rate limits"],
        request=InputSerializer,
        responses=RateLimitSerializer,
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["api_key"] = values.pop("key", None)
        try:
            limit = rate_limit_set(**values, actor=request.user)
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(RateLimitSerializer(limit).data)
