"""The portal's catalog pages: the platform team edits (`catalog` in `central`), governance
reviewers read. Permissions are `access.portal.PortalAdmin`'s."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from genai_platform.access.portal import ADD, CHANGE, DELETE, VIEW, PortalAdmin, PortalTabularInline

from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from .selectors import catalog_invalidate


class CatalogAdmin(PortalAdmin):
    """Every catalog edit makes gateways re-read the catalog on their next request.

    The catalog's upsert services do not cover every field edited here (lifecycle dates,
    replacements, route weights), so these pages save the validated rows themselves, as before."""

    access_object = "catalog"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})

    def portal_save(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> models.Model:
        obj.save()
        form.save_m2m()
        catalog_invalidate()
        return obj

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        catalog_invalidate()

    def portal_delete(self, request: HttpRequest, obj: models.Model) -> None:
        obj.delete()
        catalog_invalidate()


@admin.register(ProviderAccount)
class ProviderAccountAdmin(CatalogAdmin):
    list_display = ["name", "provider", "region", "endpoint"]
    list_filter = ["provider"]
    search_fields = ["name", "region"]


@admin.register(CatalogModel)
class CatalogModelAdmin(CatalogAdmin):
    list_display = ["name", "supports_chat", "supports_embeddings", "supports_tools", "context_window"]
    search_fields = ["name"]


@admin.register(Deployment)
class DeploymentAdmin(CatalogAdmin):
    list_display = [
        "name",
        "account",
        "model",
        "provider_model_id",
        "lifecycle",
        "deprecated_on",
        "retires_on",
        "replacement",
        "input_price_per_million",
        "output_price_per_million",
    ]
    list_select_related = ["account", "model", "replacement"]
    list_filter = ["lifecycle", "account__provider"]
    search_fields = ["name", "provider_model_id"]


class RouteInline(PortalTabularInline):
    model = Route
    extra = 1


@admin.register(Alias)
class AliasAdmin(CatalogAdmin):
    list_display = ["name", "strategy", "is_active", "available_in_sandbox"]
    list_filter = ["is_active", "available_in_sandbox"]
    search_fields = ["name"]
    inlines = [RouteInline]
