"""The portal page where each person creates and revokes their own management-API tokens.

Not a `PortalAdmin`: a token is its owner's, whatever their roles, so the page shows every person
who holds a role their own tokens and nobody else's. The secret is shown once, in the message after creation.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from genai_platform.tenancy.models import Lob, Membership

from .models import CentralRoleAssignment, PersonalApiToken
from .tokens import personal_token_issue, personal_token_revoke, personal_tokens_of


class TokenIssueForm(forms.ModelForm):
    expires_in_days = forms.IntegerField(min_value=1, max_value=366, initial=30, help_text="At most a year.")

    class Meta:
        model = PersonalApiToken
        fields = ["name", "scope", "lob"]


@admin.register(PersonalApiToken)
class PersonalApiTokenAdmin(admin.ModelAdmin):
    form = TokenIssueForm
    list_display = ["name", "prefix", "scope", "lob", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["name", "prefix", "scope", "lob", "created_at", "expires_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def _signed_in(self, request: HttpRequest) -> bool:
        """A person with something to automate: a superuser, or anyone holding a role (a token acts as
        its owner, so someone with no role would get a token that can do nothing)."""
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return False
        memo = request.__dict__.setdefault("_has_a_role", {})
        if "answer" not in memo:
            memo["answer"] = bool(
                user.is_superuser
                or Membership.objects.filter(user=user).exists()
                or CentralRoleAssignment.objects.filter(user=user).exists()
            )
        return memo["answer"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._signed_in(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._signed_in(request) and (obj is None or obj.user_id == request.user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._signed_in(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token never changes; it is revoked and another issued

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked tokens stay, for the audit trail

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self._signed_in(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return personal_tokens_of(request.user)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["name", "scope", "lob", "expires_in_days"] if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "lob":
            kwargs["queryset"] = Lob.objects.filter(memberships__user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: PersonalApiToken, form: Any, change: bool) -> None:
        expires_at = timezone.now() + dt.timedelta(days=form.cleaned_data["expires_in_days"])
        try:
            issued = personal_token_issue(
                user=request.user,
                name=obj.name,
                scope=obj.scope,
                lob=obj.lob,
                expires_at=expires_at,
                actor=request.user,
            )
        except ValidationError as error:  # the form validated the same fields; a race is all that is left
            raise forms.ValidationError(error.messages) from error
        obj.__dict__.update(issued.token.__dict__)
        messages.warning(
            request, f"Your token (shown this once, copy it now): {issued.plaintext}", extra_tags="personal-token"
        )

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for token in queryset.filter(user=request.user):
            personal_token_revoke(token=token, actor=request.user)
        messages.success(request, "Revoked.")
