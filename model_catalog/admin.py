from django.contrib import admin

from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from .selectors import catalog_invalidate


class CatalogAdmin(admin.ModelAdmin):
    """Every catalog edit makes gateways re-read the catalog on their next request."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalog_invalidate()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        catalog_invalidate()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
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


class RouteInline(admin.TabularInline):
    model = Route
    extra = 1


@admin.register(Alias)
class AliasAdmin(CatalogAdmin):
    list_display = ["name", "strategy", "is_active", "available_in_sandbox"]
    list_filter = ["is_active", "available_in_sandbox"]
    search_fields = ["name"]
    inlines = [RouteInline]
