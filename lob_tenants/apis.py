"""HTTP for LOB self-service: the caller's LOBs, their use cases, and the use cases' API keys.

Every view is authorized by `access.permissions.RolePermission` (LOB from the URL, object from
`access_object`, action from the method) and only ever looks rows up inside the LOB it was given,
so an id from another LOB is a 404 like an unknown one. No response carries a key's secret hash;
an issued or rotated key's plaintext is in that one response and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform import hotcache
from genai_platform.access.models import CENTRAL
from genai_platform.access.permissions import RolePermission
from genai_platform.access.selectors import user_can
from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.management_api import ManagementPage, bad_request, get_or_404, paginated_response
from model_catalog.models import Alias

from .models import ApiKey, Lob, Membership, UseCase
from .selectors import key_cache_key, use_cases_of
from .services import api_key_issue, api_key_revoke, api_key_rotate, api_key_scope, use_case_upsert

#: Path segments of use-case actions, so no use case can be named like one.
RESERVED_USE_CASE_SLUGS = frozenset({"create"})
MAX_ROTATION_OVERLAP_MINUTES = 7 * 24 * 60


# ---- selectors for these views (scoped to one LOB or to the caller) ----


def lobs_visible_to(user: Any) -> QuerySet[Lob]:
    """The caller's LOBs with their role there; the central LOB administrators see every LOB's name."""
    everyone = user_can(user, CENTRAL, "lob", "read")
    lobs = Lob.objects.all() if everyone else Lob.objects.filter(memberships__user=user)
    role = Membership.objects.filter(lob=OuterRef("pk"), user=user).values("role")[:1]
    return lobs.annotate(role=Subquery(role)).order_by("name", "slug")


def api_keys_of(use_case: UseCase) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(use_case=use_case)
        .select_related("use_case", "created_by", "rotated_from")
        .prefetch_related("scopes")
        .order_by("-created_at", "-id")
    )


# ---- a write with no service yet (to move to lob_tenants.services) ----


@transaction.atomic
def api_key_expiry_set(*, api_key: ApiKey, expires_at: dt.datetime | None, actor: Any = None) -> ApiKey:
    """Sets or clears an active key's expiry; every process stops trusting its cached copy after commit."""
    if not api_key.is_active:
        raise ValueError("only an active key's expiry can change")
    before = api_key.expires_at
    api_key.expires_at = expires_at
    api_key.save(update_fields=["expires_at"])
    audit_record(
        actor=audit_actor(actor),
        action="api_key.expiry_set",
        target=api_key,
        lob_slug=api_key.use_case.lob.slug,
        before={"expires_at": before.isoformat() if before else None},
        after={"prefix": api_key.prefix, "expires_at": expires_at.isoformat() if expires_at else None},
    )
    transaction.on_commit(lambda: hotcache.invalidate(key_cache_key(api_key.prefix)))
    return api_key


# ---- serializers shared by several views ----


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class AliasNamesField(serializers.Field):
    """Read-only: the names of a many-to-many of catalog aliases."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, aliases: Any) -> list[str]:
        return [alias.name for alias in aliases.all()]


class UseCaseSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=UseCase.Status.choices)
    data_classification = serializers.CharField()
    aliases = AliasNamesField()
    prompt_template = serializers.CharField(
        allow_null=True, help_text="The pinned prompt template version, `<lob>/<name>@<version>`."
    )
    created_at = serializers.DateTimeField()


class ApiKeySerializer(serializers.Serializer):
    """A key as anyone in the LOB may see it: its public prefix, never its secret or digest."""

    prefix = serializers.CharField(help_text="Public part of the key (`sk-gp-<prefix>.…`); identifies it.")
    name = serializers.CharField()
    environment = serializers.ChoiceField(choices=ApiKey.Environment.choices)
    use_case = serializers.SlugField(source="use_case.slug")
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField(source="is_active")
    scopes = AliasNamesField(help_text="Aliases it may call; empty: all of its use case's.")
    rotated_from = serializers.CharField(source="rotated_from.prefix", allow_null=True)


class IssuedApiKeySerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField(
        help_text="The whole key, shown in this response only: it is stored as a digest and cannot be shown again."
    )

    @extend_schema_field(serializers.CharField())
    def get_key(self, api_key: ApiKey) -> str:
        return self.context["plaintext"]


def _alias_names_field(**kwargs: Any) -> serializers.SlugRelatedField:
    return serializers.SlugRelatedField(many=True, slug_field="name", queryset=Alias.objects.all(), **kwargs)


def _within_use_case(aliases: list[Alias], use_case: UseCase) -> list[Alias]:
    foreign = {a.name for a in aliases} - set(use_case.aliases.values_list("name", flat=True))
    if foreign:
        raise ValidationError(f"Not models of this use case: {', '.join(sorted(foreign))}.")
    return aliases


def _in_the_future(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value <= timezone.now():
        raise ValidationError("Must be in the future.")
    return value


# ---- LOBs ----


class LobListApi(APIView):
    """`GET /api/v1/lobs/`: the LOBs the caller belongs to, with their role; the platform admins see
    every LOB, by name only."""

    permission_classes = [RolePermission]
    access_object = None  # every signed-in user; the selector scopes the rows
    pagination_class = ManagementPage

    class OutputSerializer(serializers.Serializer):
        slug = serializers.SlugField()
        name = serializers.CharField()
        role = serializers.ChoiceField(
            choices=Membership.Role.choices, allow_null=True, help_text="The caller's role in it, if a member."
        )

        class Meta:
            ref_name = "LobSummary"

    @extend_schema(operation_id="lob_list", tags=["LOBs"], responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginated_response(
            view=self, request=request, queryset=lobs_visible_to(request.user), serializer=self.OutputSerializer
        )


# ---- use cases ----


class UseCaseListApi(APIView):
    permission_classes = [RolePermission]
    access_object = "use_case"
    pagination_class = ManagementPage
    lob: Lob  # set by RolePermission

    @extend_schema(operation_id="use_case_list", tags=["use cases"], responses=UseCaseSerializer(many=True))
    def get(self, request: Request, lob: str) -> Response:
        return paginated_response(
            view=self, request=request, queryset=use_cases_of(self.lob), serializer=UseCaseSerializer
        )


class UseCaseCreateApi(APIView):
    """Creates a draft use case; it goes to the governance board before production keys work."""

    permission_classes = [RolePermission]
    access_object = "use_case"
    lob: Lob

    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        aliases = _alias_names_field(required=False, default=list, help_text="Catalog aliases it means to call.")

        class Meta:
            ref_name = "UseCaseCreate"

        def validate_slug(self, slug: str) -> str:
            if slug in RESERVED_USE_CASE_SLUGS:
                raise ValidationError(f'"{slug}" is reserved.')
            if UseCase.objects.filter(lob=self.context["lob"], slug=slug).exists():
                raise ValidationError("This line of business already has a use case with this slug.")
            return slug

    @extend_schema(
        operation_id="use_case_create", tags=["use cases"], request=InputSerializer, responses={201: UseCaseSerializer}
    )
    def post(self, request: Request, lob: str) -> Response:
        data = self.InputSerializer(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        use_case = use_case_upsert(lob=self.lob, actor=request.user, **data.validated_data)
        return Response(UseCaseSerializer(use_case).data, status=status.HTTP_201_CREATED)


class UseCaseDetailApi(APIView):
    permission_classes = [RolePermission]
    access_object = "use_case"
    lob: Lob

    @extend_schema(operation_id="use_case_detail", tags=["use cases"], responses=UseCaseSerializer)
    def get(self, request: Request, lob: str, use_case: str) -> Response:
        return Response(UseCaseSerializer(get_or_404(use_cases_of(self.lob), slug=use_case)).data)


class UseCaseUpdateApi(APIView):
    """Changes a use case's name, description or models (each optional). Its status is the board's."""

    permission_classes = [RolePermission]
    access_object = "use_case"
    lob: Lob

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        aliases = _alias_names_field(required=False)

        class Meta:
            ref_name = "UseCaseUpdate"

    @extend_schema(
        operation_id="use_case_update", tags=["use cases"], request=InputSerializer, responses=UseCaseSerializer
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = get_or_404(use_cases_of(self.lob), slug=use_case)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = data.validated_data
        updated = use_case_upsert(
            lob=self.lob,
            slug=found.slug,
            name=changes.get("name", found.name),
            description=changes.get("description", found.description),
            aliases=changes.get("aliases", list(found.aliases.all())),
            actor=request.user,
        )
        return Response(UseCaseSerializer(updated).data)


# ---- API keys ----


class _UseCaseKeyApi(APIView):
    """The keys of one use case of the URL's LOB."""

    permission_classes = [RolePermission]
    access_object = "api_key"
    lob: Lob

    def use_case_of(self, slug: str) -> UseCase:
        return get_or_404(UseCase.objects.filter(lob=self.lob).select_related("lob"), slug=slug)

    def key_of(self, use_case_slug: str, prefix: str) -> ApiKey:
        return get_or_404(api_keys_of(self.use_case_of(use_case_slug)), prefix=prefix)


class ApiKeyListApi(_UseCaseKeyApi):
    pagination_class = ManagementPage

    @extend_schema(operation_id="api_key_list", tags=["API keys"], responses=ApiKeySerializer(many=True))
    def get(self, request: Request, lob: str, use_case: str) -> Response:
        keys = api_keys_of(self.use_case_of(use_case))
        return paginated_response(view=self, request=request, queryset=keys, serializer=ApiKeySerializer)


class ApiKeyIssueApi(_UseCaseKeyApi):
    """Issues a key. The response is the only time its plaintext is ever shown."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        environment = serializers.ChoiceField(choices=ApiKey.Environment.choices, default=ApiKey.Environment.SANDBOX)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        scopes = _alias_names_field(required=False, default=list, help_text="Limit it to some of the use case's.")

        class Meta:
            ref_name = "ApiKeyIssue"

        def validate_expires_at(self, value: dt.datetime | None) -> dt.datetime | None:
            return _in_the_future(value)

        def validate_scopes(self, aliases: list[Alias]) -> list[Alias]:
            return _within_use_case(aliases, self.context["use_case"])

    @extend_schema(
        operation_id="api_key_issue",
        tags=["API keys"],
        request=InputSerializer,
        responses={201: IssuedApiKeySerializer},
    )
    def post(self, request: Request, lob: str, use_case: str) -> Response:
        found = self.use_case_of(use_case)
        data = self.InputSerializer(data=request.data, context={"use_case": found})
        data.is_valid(raise_exception=True)
        scopes = data.validated_data.pop("scopes")
        with transaction.atomic():  # a key and its scopes, or nothing
            api_key, plaintext = api_key_issue(use_case=found, actor=request.user, **data.validated_data)
            if scopes:
                api_key_scope(api_key=api_key, aliases=scopes, actor=request.user)
        api_key = api_keys_of(found).get(pk=api_key.pk)
        body = IssuedApiKeySerializer(api_key, context={"plaintext": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(_UseCaseKeyApi):
    """Revokes a key at once; every gateway process refuses it within seconds."""

    @extend_schema(operation_id="api_key_revoke", tags=["API keys"], request=None, responses=ApiKeySerializer)
    def post(self, request: Request, lob: str, use_case: str, prefix: str) -> Response:
        api_key = api_key_revoke(api_key=self.key_of(use_case, prefix), actor=request.user)
        return Response(ApiKeySerializer(api_key).data)


class ApiKeyRotateApi(_UseCaseKeyApi):
    """Issues a successor (same use case, environment and scopes); the old key keeps working for
    the overlap window, so deployments can switch over without downtime, then expires."""

    class InputSerializer(serializers.Serializer):
        overlap_minutes = serializers.IntegerField(
            min_value=0,
            max_value=MAX_ROTATION_OVERLAP_MINUTES,
            default=60,
            help_text="How long the old key keeps working.",
        )

        class Meta:
            ref_name = "ApiKeyRotate"

    class OutputSerializer(IssuedApiKeySerializer):
        previous = ApiKeySerializer(source="rotated_from", help_text="The old key, with its new expiry.")

        class Meta:
            ref_name = "RotatedApiKey"

    @extend_schema(
        operation_id="api_key_rotate", tags=["API keys"], request=InputSerializer, responses={201: OutputSerializer}
    )
    def post(self, request: Request, lob: str, use_case: str, prefix: str) -> Response:
        api_key = self.key_of(use_case, prefix)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        overlap = dt.timedelta(minutes=data.validated_data["overlap_minutes"])
        try:
            successor, plaintext = api_key_rotate(api_key=api_key, overlap=overlap, actor=request.user)
        except ValueError as error:
            raise bad_request(error) from error
        successor = api_keys_of(api_key.use_case).get(pk=successor.pk)
        body = self.OutputSerializer(successor, context={"plaintext": plaintext}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyScopeApi(_UseCaseKeyApi):
    """Limits a key to some of its use case's models; an empty list lifts the limit."""

    class InputSerializer(serializers.Serializer):
        aliases = _alias_names_field(allow_empty=True)

        class Meta:
            ref_name = "ApiKeyScope"

        def validate_aliases(self, aliases: list[Alias]) -> list[Alias]:
            return _within_use_case(aliases, self.context["use_case"])

    @extend_schema(operation_id="api_key_scope", tags=["API keys"], request=InputSerializer, responses=ApiKeySerializer)
    def post(self, request: Request, lob: str, use_case: str, prefix: str) -> Response:
        api_key = self.key_of(use_case, prefix)
        data = self.InputSerializer(data=request.data, context={"use_case": api_key.use_case})
        data.is_valid(raise_exception=True)
        api_key_scope(api_key=api_key, aliases=data.validated_data["aliases"], actor=request.user)
        return Response(ApiKeySerializer(api_keys_of(api_key.use_case).get(pk=api_key.pk)).data)


class ApiKeyExpiryApi(_UseCaseKeyApi):
    """Sets (a future time) or clears (`null`) an active key's expiry."""

    class InputSerializer(serializers.Serializer):
        expires_at = serializers.DateTimeField(allow_null=True)

        class Meta:
            ref_name = "ApiKeyExpiry"

        def validate_expires_at(self, value: dt.datetime | None) -> dt.datetime | None:
            return _in_the_future(value)

    @extend_schema(
        operation_id="api_key_expiry_set", tags=["API keys"], request=InputSerializer, responses=ApiKeySerializer
    )
    def post(self, request: Request, lob: str, use_case: str, prefix: str) -> Response:
        api_key = self.key_of(use_case, prefix)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            api_key_expiry_set(api_key=api_key, expires_at=data.validated_data["expires_at"], actor=request.user)
        except ValueError as error:
            raise bad_request(error) from error
        return Response(ApiKeySerializer(api_key).data)
