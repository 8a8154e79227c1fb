"""Guardrail policies and model approvals in the portal, for the central platform team.

Policies: a policy is created with its first draft (`guardrail_policy_draft`), its draft edited
(`guardrail_draft_save`), any two versions compared, and a draft published enforced or in shadow
(`guardrail_publish`), each through the same audited services as the management API. Model
approvals: the data classifications each alias may receive (`model_approval_set`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from genai_platform.access.policy import WRITE
from genai_platform.access.portal import ADD, CHANGE, VIEW, PortalAdmin
from genai_platform.formatting import human_column, key_values, listing
from lob_tenants.models import DataClassification

from .models import GuardrailPolicyRecord, GuardrailPolicyVersion, ModelApproval
from .selectors import versions_diff
from .services.guardrail_policies import guardrail_draft_save, guardrail_publish
from .services.policy_authoring import guardrail_policy_draft
from .services.workflow import model_approval_set
from .shadow_rollout import shadow_report


def _publish(modeladmin: PortalAdmin, request: HttpRequest, queryset: QuerySet, mode: str) -> None:
    for version in modeladmin.portal_scope(request, queryset, WRITE).filter(status=GuardrailPolicyVersion.Status.DRAFT):
        try:
            published = guardrail_publish(version=version, actor=request.user, mode=mode)
        except ValidationError as error:
            messages.error(request, f"{version}: {' '.join(error.messages)}")
        else:
            messages.success(request, f"Published {published} ({mode}).")


@admin.action(description="Publish the selected drafts, enforced", permissions=["write"])
def publish_enforced(modeladmin: PortalAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _publish(modeladmin, request, queryset, GuardrailPolicyVersion.Mode.ENFORCED)


@admin.action(description="Publish the selected drafts in shadow (detect only)", permissions=["write"])
def publish_shadow(modeladmin: PortalAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _publish(modeladmin, request, queryset, GuardrailPolicyVersion.Mode.SHADOW)


@admin.register(GuardrailPolicyVersion)
class GuardrailPolicyVersionAdmin(PortalAdmin):
    """Published versions never change; drafts are saved through the policy services. Here they are
    read, compared (any two versions of one policy) and their shadow results shown."""

    access_object = "guardrail_policy"
    portal_actions = frozenset({VIEW})
    actions = [publish_enforced, publish_shadow]
    list_display = ["policy", "number", "status", "mode", "fingerprint", "published_at", "published_by"]
    list_filter = ["status", "mode"]
    list_select_related = ["policy"]
    fields = ["policy", "number", "status", "mode", "rules", "fingerprint", "published_at", "published_by"]
    readonly_fields = fields
    rules = human_column("document", key_values, "rules")

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


class PolicyDraftForm(forms.ModelForm):
    """A policy's owner and name (when it is created) and its draft document, as JSON."""

    document = forms.JSONField(
        help_text='The rules, e.g. {"rules": [{"check": "secrets", "direction": "input", "action": "block"}]}.'
    )

    class Meta:
        model = GuardrailPolicyRecord
        fields = ["scope", "lob", "use_case", "name"]

    #: Set by the admin: who is saving (the services' refusals are checked as them).
    portal_user: Any = None

    def clean_document(self) -> dict[str, Any]:
        document = self.cleaned_data["document"]
        if not isinstance(document, dict):
            raise forms.ValidationError('A JSON object, e.g. {"rules": [...]}.')
        return document

    def clean(self) -> dict[str, Any]:
        """Asks the services themselves, in a transaction rolled back at once, whether they would
        accept this draft (a rule it cannot parse, a loosening of a scope above): their refusal
        becomes the form's message, and nothing is written."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            with transaction.atomic():
                _draft_save(self.instance, cleaned, actor=self.portal_user)
                transaction.set_rollback(True)
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, messages_ in error.message_dict.items():
                    self.add_error(field if field in self.fields else "document", messages_)
            else:
                self.add_error("document", error.messages)
        return cleaned


def _draft_save(record: GuardrailPolicyRecord, cleaned: dict[str, Any], *, actor: Any) -> GuardrailPolicyVersion:
    """Saves the draft of an existing policy, or creates the policy with its first draft."""
    if record.pk is not None:
        return guardrail_draft_save(policy=record, document=cleaned["document"], actor=actor)
    return guardrail_policy_draft(
        scope=cleaned["scope"],
        name=cleaned["name"],
        document=cleaned["document"],
        actor=actor,
        lob=cleaned.get("lob"),
        use_case=cleaned.get("use_case"),
    )


@admin.register(GuardrailPolicyRecord)
class GuardrailPolicyAdmin(PortalAdmin):
    """Create a policy with its first draft; edit its draft. Publishing is an action on its versions."""

    access_object = "guardrail_policy"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    form = PolicyDraftForm
    list_display = ["name", "scope", "lob", "use_case"]
    list_filter = ["scope"]

    def get_readonly_fields(self, request: HttpRequest, obj: GuardrailPolicyRecord | None = None) -> list[str]:
        return [] if obj is None else ["scope", "lob", "use_case", "name"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "document": {"rules": []}}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.portal_user = request.user
        if obj is not None:
            latest = obj.versions.order_by(models.F("number").desc(nulls_first=True)).first()
            form.base_fields["document"].initial = latest.document if latest is not None else {"rules": []}
        return form

    def portal_save(self, request: HttpRequest, obj: GuardrailPolicyRecord, form: Any, change: bool) -> Any:
        record = GuardrailPolicyRecord.objects.get(pk=obj.pk) if change else obj
        return _draft_save(record, form.cleaned_data, actor=request.user).policy


class ModelApprovalForm(forms.ModelForm):
    classifications = forms.MultipleChoiceField(
        choices=DataClassification.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ModelApproval
        fields = ["alias", "classifications"]


@admin.register(ModelApproval)
class ModelApprovalAdmin(PortalAdmin):
    """Which data classifications each alias may receive (`catalog` in `central`)."""

    access_object = "catalog"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    form = ModelApprovalForm
    list_display = ["alias", "classifications_shown", "approved_by", "approved_at"]
    list_select_related = ["alias"]
    classifications_shown = human_column("classifications", listing)
    read_as = {"classifications": "classifications_shown"}

    def get_readonly_fields(self, request: HttpRequest, obj: ModelApproval | None = None) -> list[str]:
        return [] if obj is None else ["alias"]

    def portal_save(self, request: HttpRequest, obj: ModelApproval, form: Any, change: bool) -> ModelApproval:
        return model_approval_set(
            alias=obj.alias, classifications=form.cleaned_data["classifications"], actor=request.user
        )
