"""The portal's catalog pages: the platform team edits (`catalog` in `central`), governance
reviewers read. Permissions are `access.portal.PortalAdmin`'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from genai_platform.access.policy import WRITE
from genai_platform.access.portal import ADD, CHANGE, DELETE, VIEW, PortalAdmin, PortalTabularInline
from genai_platform.formatting import human_column, price_per_million

from . import services
from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route


class CatalogAdmin(PortalAdmin):
    """Every edit goes through the catalog's services, which validate, audit (before and after) and
    make gateways re-read the catalog; nothing here saves a row itself."""

    access_object = "catalog"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    #: The service that saves this admin's model, given the form's instance.
    save_service: Callable[..., models.Model]
    save_argument: str

    def portal_save(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> models.Model:
        return type(self).save_service(**{self.save_argument: obj, "actor": request.user})

    def portal_delete(self, request: HttpRequest, obj: models.Model) -> None:
        services.catalog_entry_delete(instance=obj, actor=request.user)


@admin.action(description="Deprecate the selected deployments today", permissions=["write"])
def deprecate_deployments(modeladmin: PortalAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for deployment in modeladmin.portal_scope(request, queryset, WRITE):
        if deployment.lifecycle not in (Deployment.Lifecycle.DEPRECATED, Deployment.Lifecycle.RETIRED):
            services.deployment_deprecate(deployment=deployment, actor=request.user)


@admin.action(description="Retire the selected deployments today", permissions=["write"])
def retire_deployments(modeladmin: PortalAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for deployment in modeladmin.portal_scope(request, queryset, WRITE):
        if deployment.lifecycle != Deployment.Lifecycle.RETIRED:
            services.deployment_retire(deployment=deployment, actor=request.user)


@admin.action(description="Retire the selected aliases", permissions=["write"])
def retire_aliases(modeladmin: PortalAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for alias in modeladmin.portal_scope(request, queryset, WRITE):
        if alias.is_active:
            services.alias_retire(alias=alias, actor=request.user)


@admin.register(ProviderAccount)
class ProviderAccountAdmin(CatalogAdmin):
    save_service = services.provider_account_save
    save_argument = "account"
    list_display = ["name", "provider", "region", "endpoint"]
    list_filter = ["provider"]
    search_fields = ["name", "region"]


@admin.register(CatalogModel)
class CatalogModelAdmin(CatalogAdmin):
    save_service = services.catalog_model_save
    save_argument = "model"
    list_display = ["name", "supports_chat", "supports_embeddings", "supports_tools", "context_window"]
    search_fields = ["name"]


@admin.register(Deployment)
class DeploymentAdmin(CatalogAdmin):
    save_service = services.deployment_save
    save_argument = "deployment"
    actions = [deprecate_deployments, retire_deployments]
    list_display = [
        "name",
        "account",
        "model",
        "provider_model_id",
        "lifecycle",
        "deprecated_on",
        "retires_on",
        "replacement",
        "input_price",
        "output_price",
    ]
    list_select_related = ["account", "model", "replacement"]
    input_price = human_column("input_price_per_million", price_per_million, "input price")
    output_price = human_column("output_price_per_million", price_per_million, "output price")
    read_as = {"input_price_per_million": "input_price", "output_price_per_million": "output_price"}
    list_filter = ["lifecycle", "account__provider"]
    search_fields = ["name", "provider_model_id"]


class RouteInline(PortalTabularInline):
    model = Route
    extra = 1


@admin.register(Alias)
class AliasAdmin(CatalogAdmin):
    """An alias and its routes: the inline's rows become one `alias_routes_set` call."""

    save_service = services.alias_save
    save_argument = "alias"
    actions = [retire_aliases]
    list_display = ["name", "strategy", "is_active", "available_in_sandbox"]
    list_filter = ["is_active", "available_in_sandbox"]
    search_fields = ["name"]
    inlines = [RouteInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is not Route:
            return super().save_formset(request, form, formset, change)
        routes = [
            services.RouteSpec(
                deployment=row["deployment"], priority=row.get("priority") or 1, weight=row.get("weight") or 1
            )
            for row in formset.cleaned_data
            if row and row.get("deployment") and not row.get("DELETE")
        ]
        services.alias_routes_set(alias=form.instance, routes=routes, actor=request.user)
        # What the admin's history message reads from a saved formset; the audit event has the details.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
