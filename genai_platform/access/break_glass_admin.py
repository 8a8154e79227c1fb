"""The portal's break-glass pages: a central user asks to read one LOB's data for a while, saying
why; that LOB's admins decide on the request's page; the requester or the LOB's admins end approved
access early. Every step is `access.services` (audited), as in the management API.

Who sees the requests: the platform team every LOB's (as the audit log already shows them), a
LOB's admins their LOB's (the decision queue belongs to those who decide: `break_glass` `write`),
nobody else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from genai_platform.tenancy.models import Lob

from . import services
from .models import CENTRAL, BreakGlassRequest
from .policy import WRITE
from .portal import VIEW, PortalAdmin
from .selectors import break_glass_moves, user_can


class BreakGlassAskForm(forms.Form):
    lob = forms.ModelChoiceField(queryset=Lob.objects.order_by("name"), label="Line of business")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Why, e.g. the incident number (20 characters at least).",
    )
    duration_minutes = forms.IntegerField(
        min_value=1, max_value=services.MAX_BREAK_GLASS_MINUTES, initial=60, label="Duration (minutes)"
    )


#: What each button of a request's page does, and what the page says when done.
DECISIONS: dict[str, tuple[Any, str]] = {
    "approve": (
        lambda request, user: services.break_glass_decide(request=request, approver=user, approve=True),
        "Approved: access starts now.",
    ),
    "deny": (
        lambda request, user: services.break_glass_decide(request=request, approver=user, approve=False),
        "Denied.",
    ),
    "revoke": (lambda request, user: services.break_glass_revoke(request=request, actor=user), "Access ended."),
}


def _errors_onto(form: forms.Form, error: ValidationError) -> None:
    """A refusal by the service lands on its field (or above the form)."""
    if hasattr(error, "error_dict"):
        for name, problems in error.message_dict.items():
            form.add_error(name if name in form.fields else None, problems)
    else:
        form.add_error(None, error)


@admin.register(BreakGlassRequest)
class BreakGlassRequestAdmin(PortalAdmin):
    access_object = "break_glass"
    lob_path = "lob"
    central_object = "break_glass"
    view_action = WRITE
    portal_actions = frozenset({VIEW})
    list_display = ["created_at", "lob", "requester", "status", "duration_minutes", "expires_at"]
    list_filter = ["status", "lob"]
    list_select_related = ["lob", "requester"]
    search_fields = ["requester__username", "reason"]

    def get_urls(self) -> list[Any]:
        ask = path("request/", self.admin_site.admin_view(self.ask_view), name="access_breakglassrequest_request")
        return [ask, *super().get_urls()]

    def may_ask(self, request: HttpRequest) -> bool:
        """Central users ask (the API's rule: `break_glass` `write` in `central`); a LOB's members never do."""
        return user_can(request.user, CENTRAL, "break_glass", WRITE)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "may_ask": self.may_ask(request)})

    def ask_view(self, request: HttpRequest) -> Any:
        if not self.may_ask(request):
            raise PermissionDenied
        form = BreakGlassAskForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                asked = services.break_glass_request(requester=request.user, **form.cleaned_data)
            except ValidationError as error:
                _errors_onto(form, error)
            else:
                self.message_user(request, f"Asked: {asked.lob.name}'s admins decide.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:access_breakglassrequest_change", args=[asked.pk]))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": "Ask for break-glass access"}
        return TemplateResponse(request, "admin/access/breakglassrequest/ask.html", {**context, "form": form})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> Any:
        """The request's page: GET shows it and the buttons the user may press; POST is one of them."""
        asked = self.get_object(request, unquote(object_id))
        moves = break_glass_moves(request.user, asked)
        if request.method == "POST":
            decision = request.POST.get("decision", "")
            if decision not in moves:
                raise PermissionDenied
            act, done = DECISIONS[decision]
            try:
                act(asked, request.user)
            except (ValidationError, PermissionDenied) as error:
                text = "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
                self.message_user(request, f"Nothing changed: {text}", messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": asked,
            "title": f"Break-glass request {asked.pk}",
            "asked": asked,
            "moves": sorted(moves),
        }
        return TemplateResponse(request, "admin/access/breakglassrequest/detail.html", context)
