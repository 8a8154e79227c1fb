"""Guardrail policy versions in the portal: the central team reads every version and compares any two."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from genai_platform.access.portal import VIEW, PortalAdmin

from .models import GuardrailPolicyVersion
from .selectors import versions_diff
from .shadow_rollout import shadow_report


@admin.register(GuardrailPolicyVersion)
class GuardrailPolicyVersionAdmin(PortalAdmin):
    """Published versions never change; drafts are saved through the policy services. Here they are
    read, compared (any two versions of one policy) and their shadow results shown."""

    access_object = "guardrail_policy"
    portal_actions = frozenset({VIEW})
    list_display = ["policy", "number", "status", "mode", "fingerprint", "published_at", "published_by"]
    list_filter = ["status", "mode"]
    list_select_related = ["policy"]
    readonly_fields = ["policy", "number", "status", "mode", "document", "fingerprint", "published_at", "published_by"]

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/diff/",
                self.admin_site.admin_view(self.diff_view),
                name="governance_guardrailpolicyversion_diff",
            ),
            *super().get_urls(),
        ]

    def diff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """This version against `?against=<id>` (another version of the same policy), by default the
        version published before it."""
        newer = self.get_object(request, object_id)
        if newer is None or not self.has_view_permission(request, newer):
            raise Http404
        siblings = self.get_queryset(request).filter(policy=newer.policy).exclude(pk=newer.pk)
        against = request.GET.get("against", "")
        if against.isdigit():
            older = siblings.filter(pk=int(against)).first()
        else:
            older = siblings.filter(number__lt=newer.number or 0).order_by("-number").first()
        context = {
            **self.admin_site.each_context(request),
            "title": f"{newer.policy}: changes in {newer}",
            "older": older,
            "newer": newer,
            "diff": versions_diff(older, newer) if older is not None else None,
            "shadow": shadow_report(newer) if newer.mode == "shadow" else None,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/governance/guardrailpolicyversion/diff.html", context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        version = self.get_object(request, object_id)
        siblings = []
        if version is not None:
            siblings = list(
                self.get_queryset(request).filter(policy=version.policy).exclude(pk=version.pk).order_by("-number")
            )
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "siblings": siblings})
