"""The use case's portal page as a LOB sees it: `lob_tenants.admin.UseCaseAdmin` (register, edit)
plus the use case's governance, which is this app's: the status panel (intake, current approval,
every review round), the intake form with its computed tier, and the LOB's workflow actions
(submit, withdraw, material change, retire) through `governance.services.workflow`, the same
services as the management API (`governance.lob_apis`). Scoping and permissions stay
`access.portal.PortalAdmin`'s. The page's URLs and templates are those of the use case's admin
(`admin:lob_tenants_usecase_*`, `admin/lob_tenants/usecase/`)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from genai_platform.access.policy import WRITE
from lob_tenants.admin import UseCaseAdmin
from lob_tenants.models import DataClassification, UseCase
from lob_tenants.portal_forms import errors_onto

from .lob_apis import JURISDICTION
from .models import Intake
from .selectors import approval_current, intake_of, reviews_of
from .services import workflow
from .tiering import REQUIRED_SIGN_OFFS


class IntakeForm(forms.ModelForm):
    """Every answer of the intake, checked field by field before `workflow.intake_save` writes it;
    a refusal by the service lands on its field too."""

    data_classification = forms.ChoiceField(
        choices=DataClassification.choices, help_text="The most sensitive data the use case will process."
    )
    jurisdictions = forms.CharField(
        required=False, help_text="Comma-separated codes where it operates, e.g. EU, US-CA. Empty: none."
    )
    tools_and_actions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One action per line that it may take on its own (e.g. issue a refund). Empty: none.",
    )

    class Meta:
        model = Intake
        fields = [
            "business_problem",
            "intended_outcome",
            "success_metrics",
            "business_owner",
            "people_affected",
            "customer_facing",
            "personal_data",
            "autonomy",
            "expected_monthly_requests",
            "monthly_budget_usd",
            "annex_iii_area",
            "prohibited_practice",
            "generates_synthetic_media",
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": 2, "cols": 80})
            for name in ("business_problem", "intended_outcome", "success_metrics", "people_affected")
        }
        labels = {"monthly_budget_usd": "Monthly budget (USD)", "annex_iii_area": "EU AI Act Annex III area"}

    field_order = ["data_classification"]

    def clean_jurisdictions(self) -> list[str]:
        codes = [code.strip().upper() for code in self.cleaned_data["jurisdictions"].split(",") if code.strip()]
        wrong = [code for code in codes if not re.fullmatch(JURISDICTION, code)]
        if wrong:
            raise forms.ValidationError(f"Not a jurisdiction code: {', '.join(wrong)}. Use codes like EU, US or US-CA.")
        return codes

    def clean_tools_and_actions(self) -> list[str]:
        actions = [line.strip() for line in self.cleaned_data["tools_and_actions"].splitlines() if line.strip()]
        if any(len(action) > 200 for action in actions):
            raise forms.ValidationError("Each action at most 200 characters.")
        return actions

    def clean_expected_monthly_requests(self) -> int:
        value = self.cleaned_data["expected_monthly_requests"]
        if value is not None and value < 0:
            raise forms.ValidationError("Cannot be negative.")
        return value

    def clean_monthly_budget_usd(self) -> Any:
        value = self.cleaned_data["monthly_budget_usd"]
        if value is not None and value < 0:
            raise forms.ValidationError("Cannot be negative.")
        return value


def intake_initial(use_case: UseCase, intake: Intake | None) -> dict[str, Any]:
    initial: dict[str, Any] = {"data_classification": use_case.data_classification}
    if intake is not None:
        initial["jurisdictions"] = ", ".join(intake.jurisdictions)
        initial["tools_and_actions"] = "\n".join(intake.tools_and_actions)
    return initial


class SubmitForm(forms.Form):
    answer = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="After changes were requested: what you changed, for the reviewers.",
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class MaterialChangeForm(forms.Form):
    what = forms.CharField(max_length=2000, help_text="What changes: a model, a tool, the data it sees, ...")


#: The governance actions a LOB takes from its use case's page: their form and what they say when done.
GOVERNANCE_ACTIONS: dict[str, tuple[type[forms.Form], str]] = {
    "submit": (SubmitForm, "Submitted for review."),
    "withdraw": (ReasonForm, "Withdrawn: the use case is a draft again."),
    "material-change": (
        MaterialChangeForm,
        "Sent back to the board as a material change; the current approval keeps serving until it decides.",
    ),
    "retire": (ReasonForm, "Retired: its approval ended and its production keys stopped working."),
}


def governance_action_run(action: str, use_case: UseCase, user: Any, data: dict[str, Any]) -> None:
    """The workflow service behind each action (the same the management API calls)."""
    if action == "submit":
        workflow.use_case_submit(use_case=use_case, actor=user, answer=data["answer"])
    elif action == "withdraw":
        workflow.use_case_withdraw(use_case=use_case, actor=user, reason=data["reason"])
    elif action == "material-change":
        workflow.use_case_material_change(use_case=use_case, actor=user, what=data["what"])
    elif action == "retire":
        workflow.use_case_retire(use_case=use_case, actor=user)


@admin.register(UseCase)
class UseCaseGovernanceAdmin(UseCaseAdmin):
    """The use case's page with its governance: what the board decided and what the LOB may do next."""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        use_case = self.get_object(request, unquote(object_id))
        approval = approval_current(use_case)
        governance = {
            "intake": intake_of(use_case),
            "approval": approval,
            "allowed_aliases": sorted(a.name for a in approval.allowed_aliases.all()) if approval else [],
            "reviews": reviews_of(use_case),
            "can_write": self.portal_allows(request, WRITE, use_case),
        }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "governance": governance})

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/intake/", wrap(self.intake_view), name="lob_tenants_usecase_intake"),
            path(
                "<path:object_id>/governance/", wrap(self.governance_action_view), name="lob_tenants_usecase_governance"
            ),
            *super().get_urls(),
        ]

    def intake_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect | TemplateResponse:
        use_case = self.get_object(request, unquote(object_id))
        intake = Intake.objects.filter(use_case=use_case).first()
        form = IntakeForm(instance=intake, initial=intake_initial(use_case, intake))
        if request.method == "POST":
            self.portal_require(request, use_case, WRITE)
            form = IntakeForm(request.POST, instance=intake or Intake(use_case=use_case))
            if form.is_valid():
                answers = {
                    name: form.cleaned_data[name]
                    for name in [*IntakeForm._meta.fields, "jurisdictions", "tools_and_actions"]
                }
                try:
                    saved = workflow.intake_save(
                        use_case=use_case,
                        actor=request.user,
                        data_classification=form.cleaned_data["data_classification"],
                        **answers,
                    )
                except ValidationError as error:
                    errors_onto(form, error)
                else:
                    self.message_user(
                        request,
                        f"Intake saved: {saved.get_risk_tier_display().lower()} risk. "
                        "Read the reasons below, then submit.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:lob_tenants_usecase_intake", args=[use_case.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": use_case,
            "title": f"Intake of {use_case.name}",
            "use_case": use_case,
            "intake": intake,
            "form": form,
            "can_write": self.portal_allows(request, WRITE, use_case),
            "required_sign_offs": REQUIRED_SIGN_OFFS.get(intake.risk_tier, ()) if intake else (),
        }
        return TemplateResponse(request, "admin/lob_tenants/usecase/intake.html", context)

    def governance_action_view(self, request: HttpRequest, object_id: str) -> Any:
        """POST: one of GOVERNANCE_ACTIONS (the `action` field); GET shows the intake and the tier."""
        if request.method != "POST":
            return self.intake_view(request, object_id)
        use_case = self.get_object(request, unquote(object_id))
        action = request.POST.get("action", "")
        if action not in GOVERNANCE_ACTIONS:
            raise Http404("No such action.")
        self.portal_require(request, use_case, WRITE)
        form_class, done = GOVERNANCE_ACTIONS[action]
        form = form_class(request.POST)
        if not form.is_valid():
            problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
            self.message_user(request, f"Nothing was changed: {problems}", messages.ERROR)
        else:
            try:
                governance_action_run(action, use_case, request.user, form.cleaned_data)
            except ValidationError as error:
                self.message_user(request, f"Nothing was changed: {'; '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:lob_tenants_usecase_change", args=[use_case.pk]) + "#governance-status"
        )
