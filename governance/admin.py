from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log is append-only: it can be read and searched, never edited."""

    list_display = ["occurred_at", "actor", "action", "object_type", "object_id", "lob_slug"]
    list_filter = ["action", "lob_slug"]
    search_fields = ["actor", "object_id", "request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
