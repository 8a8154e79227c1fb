from django.contrib import admin

from .models import ApiKey, Lob, UseCase
from .services import api_key_revoke


@admin.register(Lob)
class LobAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "business_owner", "cost_center"]
    search_fields = ["name", "slug"]


@admin.register(UseCase)
class UseCaseAdmin(admin.ModelAdmin):
    list_display = ["name", "lob", "status", "data_classification"]
    list_filter = ["status", "data_classification", "lob"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["aliases"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are issued through the service (the secret is shown once); here they are listed and revoked."""

    list_display = ["name", "prefix", "use_case", "environment", "created_at", "expires_at", "revoked_at"]
    list_filter = ["environment", "use_case__lob"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset.select_related("use_case__lob"):
            api_key_revoke(api_key=api_key, actor=request.user)
