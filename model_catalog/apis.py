"""The catalog's management API, mounted at `api/v1/catalog/`: the central platform team creates,
changes, deprecates and retires provider accounts, models, deployments and aliases.

Every write calls the same audited service as the portal and the YAML import
(`model_catalog.services`). Authorization is `RolePermission` on `catalog` in `central`: platform
admins write, governance reviewers read. Serializers validate and shape; they never save.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.api_errors import field_errors
from genai_platform.management_api import get_or_404

from . import services
from .models import Alias, CatalogModel, Deployment, ProviderAccount

# ---- serializers (read and write share the fields; writes never save) ----


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProviderAccount
        fields = ["name", "provider", "region", "endpoint", "credentials_ref", "options", "timeout_seconds"]


class ModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = CatalogModel
        ref_name = "CatalogModel"
        fields = [
            "name",
            "supports_chat",
            "supports_embeddings",
            "supports_tools",
            "supports_vision",
            "supports_streaming",
            "context_window",
            "max_output_tokens",
        ]


class DeploymentSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", queryset=ProviderAccount.objects.all())
    model = serializers.SlugRelatedField(slug_field="name", queryset=CatalogModel.objects.all())
    replacement = serializers.SlugRelatedField(
        slug_field="name", queryset=Deployment.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Deployment
        fields = [
            "name",
            "account",
            "model",
            "provider_model_id",
            "input_price_per_million",
            "output_price_per_million",
            "lifecycle",
            "deprecated_on",
            "retires_on",
            "replacement",
            "options",
        ]


class RouteSerializer(serializers.Serializer):
    deployment = serializers.SlugRelatedField(slug_field="name", queryset=Deployment.objects.all())
    priority = serializers.IntegerField(min_value=0, default=1)
    weight = serializers.IntegerField(min_value=0, default=1)


class AliasSerializer(serializers.ModelSerializer):
    routes = RouteSerializer(many=True, read_only=True)

    class Meta:
        model = Alias
        fields = ["name", "description", "strategy", "is_active", "available_in_sandbox", "routes"]


# ---- one class per action, shared by the four kinds ----


class CatalogApi(APIView):
    permission_classes = [RolePermission]
    access_object = "catalog"
    serializer_class: ClassVar[type[serializers.ModelSerializer]]

    @classmethod
    def rows(cls) -> Any:
        return cls.serializer_class.Meta.model.objects.all()

    def row(self, name: str) -> models.Model:
        return get_or_404(self.rows(), name=name)

    def save(self, instance: models.Model, request: Request) -> models.Model:
        raise NotImplementedError


class CatalogListApi(CatalogApi):
    def get(self, request: Request) -> Response:
        return Response(self.serializer_class(self.rows(), many=True).data)


class CatalogCreateApi(CatalogApi):
    def post(self, request: Request) -> Response:
        data = self.serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        instance = self.serializer_class.Meta.model(**data.validated_data)
        try:
            saved = self.save(instance, request)
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(self.serializer_class(saved).data, status=status.HTTP_201_CREATED)


class CatalogDetailApi(CatalogApi):
    def get(self, request: Request, name: str) -> Response:
        return Response(self.serializer_class(self.row(name)).data)


class CatalogUpdateApi(CatalogApi):
    """Changes the fields given (a partial update); the name stays."""

    def post(self, request: Request, name: str) -> Response:
        instance = self.row(name)
        data = self.serializer_class(instance, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        for field, value in data.validated_data.items():
            if field != "name":
                setattr(instance, field, value)
        try:
            saved = self.save(instance, request)
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(self.serializer_class(saved).data)


def _account_save(instance: models.Model, request: Request) -> models.Model:
    return services.provider_account_save(account=instance, actor=request.user)


def _model_save(instance: models.Model, request: Request) -> models.Model:
    return services.catalog_model_save(model=instance, actor=request.user)


def _deployment_save(instance: models.Model, request: Request) -> models.Model:
    return services.deployment_save(deployment=instance, actor=request.user)


def _alias_save(instance: models.Model, request: Request) -> models.Model:
    return services.alias_save(alias=instance, actor=request.user)


def _actions(kind: str, serializer: type, save: Any) -> dict[str, type[APIView]]:
    """The list, create, detail and update views of one kind, each with its own OpenAPI operation."""
    tags = [f"catalog {kind}s"]

    class List(CatalogListApi):
        serializer_class = serializer

        @extend_schema(operation_id=f"catalog_{kind}_list", tags=tags, responses=serializer(many=True))
        def get(self, request: Request) -> Response:
            return super().get(request)

    class Create(CatalogCreateApi):
        serializer_class = serializer

        def save(self, instance: models.Model, request: Request) -> models.Model:
            return save(instance, request)

        @extend_schema(
            operation_id=f"catalog_{kind}_create", tags=tags, request=serializer, responses={201: serializer}
        )
        def post(self, request: Request) -> Response:
            return super().post(request)

    class Detail(CatalogDetailApi):
        serializer_class = serializer

        @extend_schema(operation_id=f"catalog_{kind}_detail", tags=tags, responses=serializer)
        def get(self, request: Request, name: str) -> Response:
            return super().get(request, name)

    class Update(CatalogUpdateApi):
        serializer_class = serializer

        def save(self, instance: models.Model, request: Request) -> models.Model:
            return save(instance, request)

        @extend_schema(operation_id=f"catalog_{kind}_update", tags=tags, request=serializer, responses=serializer)
        def post(self, request: Request, name: str) -> Response:
            return super().post(request, name)

    class Delete(CatalogApi):
        """Deletes a row nothing references any more (anything still routed or served is refused: retire it)."""

        serializer_class = serializer

        @extend_schema(operation_id=f"catalog_{kind}_delete", tags=tags, request=None, responses={204: None})
        def post(self, request: Request, name: str) -> Response:
            try:
                services.catalog_entry_delete(instance=self.row(name), actor=request.user)
            except DjangoValidationError as error:
                raise field_errors(error) from None
            return Response(status=status.HTTP_204_NO_CONTENT)

    views = {"list": List, "create": Create, "detail": Detail, "update": Update, "delete": Delete}
    for view in views.values():
        view.__name__ = view.__qualname__ = f"Catalog{kind.title().replace('_', '')}{view.__name__}Api"
    return views


ACCOUNT_APIS = _actions("account", AccountSerializer, _account_save)
MODEL_APIS = _actions("model", ModelSerializer, _model_save)
DEPLOYMENT_APIS = _actions("deployment", DeploymentSerializer, _deployment_save)
ALIAS_APIS = _actions("alias", AliasSerializer, _alias_save)


# ---- lifecycle ----


class DeploymentDeprecateApi(CatalogApi):
    """Deprecates a deployment today or from `on`; it serves with a warning, pointing at `replacement`."""

    serializer_class = DeploymentSerializer

    class InputSerializer(serializers.Serializer):
        on = serializers.DateField(required=False, allow_null=True)
        replacement = serializers.SlugRelatedField(
            slug_field="name", queryset=Deployment.objects.all(), required=False, allow_null=True
        )

        class Meta:
            ref_name = "DeploymentDeprecateInput"

    @extend_schema(
        operation_id="catalog_deployment_deprecate",
        tags=["catalog deployments"],
        request=InputSerializer,
        responses=DeploymentSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        row = self.row(name)  # an unknown name is a 404 before any body is read
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            deployment = services.deployment_deprecate(
                deployment=row,
                actor=request.user,
                on=data.validated_data.get("on"),
                replacement=data.validated_data.get("replacement"),
            )
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(DeploymentSerializer(deployment).data)


class DeploymentRetireApi(CatalogApi):
    """Retires a deployment today or from `on`: from then on no route calls it."""

    serializer_class = DeploymentSerializer

    class InputSerializer(serializers.Serializer):
        on = serializers.DateField(required=False, allow_null=True)

        class Meta:
            ref_name = "DeploymentRetireInput"

    @extend_schema(
        operation_id="catalog_deployment_retire",
        tags=["catalog deployments"],
        request=InputSerializer,
        responses=DeploymentSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        row = self.row(name)  # an unknown name is a 404 before any body is read
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            deployment = services.deployment_retire(
                deployment=row, actor=request.user, on=data.validated_data.get("on")
            )
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(DeploymentSerializer(deployment).data)


class AliasRoutesApi(CatalogApi):
    """Sets an alias's routes: exactly the deployments given, in their priority and weight."""

    serializer_class = AliasSerializer

    class InputSerializer(serializers.Serializer):
        routes = RouteSerializer(many=True)

        class Meta:
            ref_name = "AliasRoutesInput"

    @extend_schema(
        operation_id="catalog_alias_routes_set",
        tags=["catalog aliases"],
        request=InputSerializer,
        responses=AliasSerializer,
    )
    def post(self, request: Request, name: str) -> Response:
        row = self.row(name)  # an unknown name is a 404 before any body is read
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        routes = [services.RouteSpec(**route) for route in data.validated_data["routes"]]
        try:
            alias = services.alias_routes_set(alias=row, routes=routes, actor=request.user)
        except DjangoValidationError as error:
            raise field_errors(error) from None
        return Response(AliasSerializer(alias).data)


class AliasRetireApi(CatalogApi):
    """Takes an alias out of service (it answers 404 like an unknown model)."""

    serializer_class = AliasSerializer

    @extend_schema(
        operation_id="catalog_alias_retire", tags=["catalog aliases"], request=None, responses=AliasSerializer
    )
    def post(self, request: Request, name: str) -> Response:
        return Response(AliasSerializer(services.alias_retire(alias=self.row(name), actor=request.user)).data)
