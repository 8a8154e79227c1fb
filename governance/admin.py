"""The portal's governance pages: the audit log (central), captured exchanges (LOB data) and the
board's review queue, where board members decide through `workflow.review_decide`. Scoping and
permissions are `access.portal.PortalAdmin`'s.

A LOB sees its use case's governance status (the current approval, its conditions and expiry) on
the use case's own page (`templates/admin/lob_tenants/usecase/change_form.html`), which the
portal already scopes to the LOB's members."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from genai_platform.access.policy import WRITE
from genai_platform.access.portal import VIEW, PortalAdmin
from genai_platform.audit.models import AuditEvent
from genai_platform.formatting import human_column, key_values, when
from model_catalog.models import Alias

from .models import Approval, CapturedExchange, Intake, Review, ReviewDecision
from .selectors import review_changes, review_previous
from .services import workflow


@admin.register(AuditEvent)
class AuditEventAdmin(PortalAdmin):
    """The audit log is append-only: platform admins and governance reviewers read and search it."""

    access_object = "audit"
    portal_actions = frozenset({VIEW})
    list_display = ["occurred_at", "actor", "action", "object_type", "object_id", "lob_slug"]
    list_filter = ["action", "lob_slug"]
    search_fields = ["actor", "object_id", "request_id"]
    fields = [
        "occurred_at_shown",
        "actor",
        "action",
        "object_type",
        "object_id",
        "lob_slug",
        "before_shown",
        "after_shown",
        "request_id",
        "chain",
        "sequence",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields
    occurred_at_shown = human_column("occurred_at", when, "occurred at")
    before_shown = human_column("before", key_values)
    after_shown = human_column("after", key_values)


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


# ---- the board's review queue ----


class QueueFilter(admin.SimpleListFilter):
    """The queue shows open reviews unless the board asks for decided ones."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("decided", "Decided"), ("all", "All")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(status=Review.Status.OPEN)
        if value == "decided":
            return queryset.exclude(status=Review.Status.OPEN)
        return queryset

    def choices(self, changelist: Any) -> Any:
        current = self.value() or "open"
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }


def missing_sign_offs(review: Review) -> list[str]:
    """The required specialties that have not approved yet (`any`: until one board member has)."""
    approved = {d.specialty for d in review.decisions.all() if d.verdict == ReviewDecision.Verdict.APPROVE}
    if list(review.required_specialties) == ["any"]:
        return [] if approved else ["any"]
    return [s for s in review.required_specialties if s not in approved]


class ReviewDecisionForm(forms.Form):
    """A board member's decision; the conditions apply only to an approval that reaches quorum."""

    verdict = forms.ChoiceField(choices=ReviewDecision.Verdict.choices)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}))
    evidence = forms.FileField(required=False, help_text="Optional: a document supporting the decision.")
    allowed_aliases = forms.ModelMultipleChoiceField(
        queryset=Alias.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Approve: the models the use case may call (none ticked: everything reviewed).",
    )
    prompt_capture = forms.ChoiceField(choices=Approval.PromptCapture.choices, initial=Approval.PromptCapture.NONE)
    human_review_of_outputs = forms.BooleanField(required=False)
    monthly_budget_cap_usd = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=2, label="Monthly budget cap (USD)"
    )
    guardrail_policy_version = forms.CharField(
        required=False, max_length=64, help_text="Pin a guardrail policy version: <policy name>@v<number>."
    )

    def __init__(self, *args: Any, review: Review, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["allowed_aliases"].queryset = Alias.objects.filter(
            name__in=list(review.snapshot.get("aliases", []))
        ).order_by("name")

    def conditions(self) -> dict[str, Any]:
        data = self.cleaned_data
        conditions: dict[str, Any] = {
            "prompt_capture": data["prompt_capture"],
            "human_review_of_outputs": data["human_review_of_outputs"],
            "monthly_budget_cap_usd": data["monthly_budget_cap_usd"],
            "guardrail_policy_version": data["guardrail_policy_version"].strip(),
        }
        if data["allowed_aliases"]:
            conditions["allowed_aliases"] = list(data["allowed_aliases"])
        return conditions


class UseCaseSuspensionForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Why, for the LOB and the audit log (e.g. the incident number).",
    )


#: What the board may do to the use case a review is about, by its status: the workflow service and
#: what the page says when done.
USE_CASE_CHANGES: dict[str, tuple[str, Any, str]] = {
    "suspend": ("approved", workflow.use_case_suspend, "Suspended: its production keys stop working now."),
    "reinstate": ("suspended", workflow.use_case_reinstate, "Reinstated: its approval serves again."),
}


@admin.register(Review)
class ReviewAdmin(PortalAdmin):
    """The governance board's queue (`review` in `central`): open reviews of every LOB, each opening
    a page with the use case, its intake as submitted, the tier and the decisions, where a board
    member approves (with conditions), requests changes or rejects, and later suspends or reinstates
    the use case it approved (with a reason). A LOB's members have no `review` line in the policy,
    so they never see the queue."""

    access_object = "review"
    lob_path = "use_case__lob"
    central_object = "review"
    portal_actions = frozenset({VIEW})
    list_display = [
        "use_case",
        "lob",
        "risk_tier",
        "required",
        "missing",
        "submitted_at",
        "sla_due_at",
        "overdue",
        "status",
    ]
    list_filter = [QueueFilter, "risk_tier", "material_change"]
    list_select_related = ["use_case__lob"]
    search_fields = ["use_case__name", "use_case__slug"]
    ordering = ["sla_due_at"]

    def portal_rows(self, request: HttpRequest) -> QuerySet:
        return super().portal_rows(request).prefetch_related("decisions")

    @admin.display(description="LOB", ordering="use_case__lob__name")
    def lob(self, review: Review) -> str:
        return review.use_case.lob.name

    @admin.display(description="sign-offs required")
    def required(self, review: Review) -> str:
        return ", ".join(review.required_specialties)

    @admin.display(description="still missing")
    def missing(self, review: Review) -> str:
        if review.status != Review.Status.OPEN:
            return "-"
        return ", ".join(missing_sign_offs(review)) or "none"

    @admin.display(boolean=True, description="overdue")
    def overdue(self, review: Review) -> bool:
        return review.status == Review.Status.OPEN and review.sla_due_at < timezone.now()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        """The review page: GET shows it; POST is a board member's decision."""
        review = self.get_object(request, unquote(object_id))
        form = ReviewDecisionForm(review=review)
        if request.method == "POST":
            self.portal_require(request, review, WRITE)
            form = ReviewDecisionForm(request.POST, request.FILES, review=review)
            if form.is_valid():
                return self.decide(request, review, form)
        return self.review_page(request, review, form, extra_context)

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/suspend/", wrap(self.suspend_view), name="governance_review_suspend"),
            path("<path:object_id>/reinstate/", wrap(self.reinstate_view), name="governance_review_reinstate"),
            *super().get_urls(),
        ]

    def suspend_view(self, request: HttpRequest, object_id: str) -> Any:
        return self.use_case_change_view(request, object_id, "suspend")

    def reinstate_view(self, request: HttpRequest, object_id: str) -> Any:
        return self.use_case_change_view(request, object_id, "reinstate")

    def use_case_change_view(self, request: HttpRequest, object_id: str, change: str) -> Any:
        """The board suspends or reinstates the use case of this review, saying why (POST; GET shows the page)."""
        review = self.get_object(request, unquote(object_id))
        if request.method != "POST":
            return self.review_page(request, review, ReviewDecisionForm(review=review), None)
        self.portal_require(request, review, WRITE)
        form = UseCaseSuspensionForm(request.POST)
        if form.is_valid():
            _, service, done = USE_CASE_CHANGES[change]
            try:
                service(use_case=review.use_case, actor=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as error:
                form.add_error("reason" if "reason" in getattr(error, "error_dict", {}) else None, error.messages)
            else:
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:governance_review_change", args=[review.pk]))
        return self.review_page(request, review, ReviewDecisionForm(review=review), None, suspension_form=form)

    def use_case_change_offered(self, request: HttpRequest, review: Review) -> str | None:
        """`suspend` or `reinstate` when the use case's status allows it and the user is on the board."""
        if not self.portal_allows(request, WRITE, review):
            return None
        status = review.use_case.status
        return next((change for change, (when, _, _) in USE_CASE_CHANGES.items() if when == status), None)

    def decide(self, request: HttpRequest, review: Review, form: ReviewDecisionForm) -> HttpResponseRedirect:
        verdict = form.cleaned_data["verdict"]
        try:
            decided = workflow.review_decide(
                review=review,
                reviewer=request.user,
                verdict=verdict,
                comment=form.cleaned_data["comment"],
                evidence=form.cleaned_data["evidence"],
                conditions=form.conditions() if verdict == ReviewDecision.Verdict.APPROVE else None,
            )
        except (ValidationError, PermissionDenied) as error:
            text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
            self.message_user(request, f"Your decision was not recorded: {text}", messages.ERROR)
        else:
            verdict_label = ReviewDecision.Verdict(verdict).label.lower()
            if decided.status == Review.Status.OPEN:
                waiting = ", ".join(missing_sign_offs(decided)) or "none"
                self.message_user(request, f"Recorded: {verdict_label}. Sign-offs still missing: {waiting}.")
            else:
                self.message_user(
                    request,
                    f"Recorded: {verdict_label}. The review is {decided.get_status_display().lower()}; "
                    f"the use case is now {decided.use_case.get_status_display().lower()}.",
                    messages.SUCCESS,
                )
        return HttpResponseRedirect(request.path)

    def review_page(
        self,
        request: HttpRequest,
        review: Review,
        form: ReviewDecisionForm,
        extra_context: dict | None,
        suspension_form: UseCaseSuspensionForm | None = None,
    ) -> TemplateResponse:
        use_case = review.use_case
        intake = Intake.objects.filter(use_case=use_case).first()
        snapshot_intake = review.snapshot.get("intake", {})
        labels = {f.name: f.verbose_name for f in Intake._meta.get_fields() if hasattr(f, "verbose_name")}
        reviews = (
            Review.objects.filter(use_case=use_case).prefetch_related("decisions__reviewer").order_by("-submitted_at")
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": review,
            "title": f"Review of {use_case.name}",
            "review": review,
            "use_case": use_case,
            "intake": intake,
            "snapshot_intake": [(labels.get(k, k), v) for k, v in snapshot_intake.items()],
            "snapshot": review.snapshot,
            "missing": missing_sign_offs(review) if review.status == Review.Status.OPEN else [],
            "overdue": self.overdue(review),
            "history": reviews,
            "approval": Approval.objects.filter(review=review).first(),
            "changes": review_changes(review),
            "previous": review_previous(review),
            "answer": review.snapshot.get("answer", ""),
            "form": form,
            "can_decide": review.status == Review.Status.OPEN and self.portal_allows(request, WRITE, review),
            "use_case_change": self.use_case_change_offered(request, review),
            "suspension_form": suspension_form or UseCaseSuspensionForm(),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/governance/review/review.html", context)


# Guardrail policy versions and their diff view, and the governance of a use case's page, live in
# their own modules.
from governance import admin_guardrails, admin_use_cases  # noqa: E402, F401
