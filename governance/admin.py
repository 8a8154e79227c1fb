"""The portal's governance pages: the audit log (central) and captured exchanges (LOB data).
Both are read-only; scoping and permissions are `access.portal.PortalAdmin`'s."""

from __future__ import annotations

from django.contrib import admin

from genai_platform.access.portal import VIEW, PortalAdmin

from .models import AuditEvent, CapturedExchange


@admin.register(AuditEvent)
class AuditEventAdmin(PortalAdmin):
    """The audit log is append-only: platform admins and governance reviewers read and search it."""

    access_object = "audit"
    portal_actions = frozenset({VIEW})
    list_display = ["occurred_at", "actor", "action", "object_type", "object_id", "lob_slug"]
    list_filter = ["action", "lob_slug"]
    search_fields = ["actor", "object_id", "request_id"]


@admin.register(CapturedExchange)
class CapturedExchangeAdmin(PortalAdmin):
    """Captured prompts and answers are LOB data: the LOB's admins and developers read them; a
    central user only through an approved break-glass request for that LOB."""

    access_object = "lob_data"
    lob_path = "lob"
    portal_actions = frozenset({VIEW})
    list_display = ["request_id", "use_case", "level", "captured_at"]
    list_filter = ["level", "lob"]
    list_select_related = ["use_case__lob"]
    search_fields = ["request_id"]
    date_hierarchy = "captured_at"


# Guardrail policy versions and their diff view live in their own module.
from governance import admin_guardrails  # noqa: E402, F401
