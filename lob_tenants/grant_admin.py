"""The portal's page of a LOB's prompt-template grants: its admins let another LOB's use case read
one version of a template (`lob_tenants.services.object_share`) and take it back (`object_unshare`),
as the management API's `grants/share/` and `grants/unshare/` do. Its members see the list.

The other LOB's use case is typed as `<lob>/<use case>`, never picked from a list: a LOB never
sees another LOB's use cases."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from genai_platform.access.portal import ADD, DELETE, VIEW, PortalAdmin

from . import services
from .models import PromptTemplateGroupObjectPermission
from .selectors import use_case_to_share_with

Grant = PromptTemplateGroupObjectPermission


class GrantForm(forms.ModelForm):
    use_case = forms.CharField(
        max_length=201, label="Shared with", help_text="The other LOB's use case, as <lob>/<use case>."
    )

    class Meta:
        model = Grant
        fields = ["content_object"]
        labels = {"content_object": "Prompt template version"}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        template, reference = cleaned.get("content_object"), cleaned.get("use_case")
        if template is None or not reference:
            return cleaned
        try:
            cleaned["use_case"] = use_case_to_share_with(owner_lob=template.lob, reference=reference)
        except ValidationError as error:
            self.add_error("use_case", error)
            return cleaned
        if Grant.objects.filter(content_object=template, group__use_case=cleaned["use_case"]).exists():
            self.add_error("use_case", "This version is already shared with this use case.")
        return cleaned


@admin.register(Grant)
class PromptTemplateGrantAdmin(PortalAdmin):
    access_object = "grant"
    lob_path = "content_object__lob"
    portal_actions = frozenset({VIEW, ADD, DELETE})
    form = GrantForm
    list_display = ["content_object", "grantee", "permission"]
    list_select_related = ["content_object__lob", "group__use_case__lob", "permission"]
    search_fields = ["content_object__name"]

    def portal_rows(self, request: HttpRequest) -> QuerySet:
        return super().portal_rows(request).filter(group__use_case__isnull=False)

    @admin.display(description="shared with")
    def grantee(self, grant: Grant) -> str:
        return str(grant.group.use_case)

    def get_fields(self, request: HttpRequest, obj: Grant | None = None) -> list[str]:
        return ["content_object", "use_case"] if obj is None else ["content_object", "grantee", "permission"]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        return super().changelist_view(request, {"title": "Prompt template grants", **(extra_context or {})})

    def portal_save(self, request: HttpRequest, obj: Grant, form: Any, change: bool) -> Grant:
        template, use_case = form.cleaned_data["content_object"], form.cleaned_data["use_case"]
        services.object_share(obj=template, owner_lob=template.lob, use_case=use_case, actor=request.user)
        return Grant.objects.get(content_object=template, group__use_case=use_case)

    def portal_delete(self, request: HttpRequest, obj: Grant) -> None:
        template = obj.content_object
        services.object_unshare(obj=template, owner_lob=template.lob, use_case=obj.group.use_case, actor=request.user)
