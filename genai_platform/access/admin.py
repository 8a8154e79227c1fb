"""The portal's access-control pages: a LOB's members (its admins manage them), and for superusers
central roles, policy lines, users and groups. Writes go through `access.services`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from genai_platform.formatting import human_column, key_values
from genai_platform.tenancy.models import Membership

from . import notices, people, services
from .apis import _would_orphan
from .models import CentralRoleAssignment, LobNoticeSettings, PeopleNotice, PolicyRule
from .policy import POLICY_ACTIONS, POLICY_DOMAIN, POLICY_OBJECT, POLICY_ROLE
from .portal import ADD, CHANGE, DELETE, VIEW, PortalAdmin

#: What the user page may change, and what of it is locked on another person's LOB-member account.
EDITABLE_USER_FIELDS = frozenset(people.USER_FIELDS) | {"groups", "user_permissions"}
PROTECTED_USER_FIELDS = (
    "username",
    "email",
    "password",
    "is_staff",
    "is_superuser",
    "groups",
    "user_permissions",
)
LAST_ADMIN = "This is the LOB's last admin: make someone else admin first."


class MembershipAddForm(forms.ModelForm):
    """Adds a person by username, so the form never lists the platform's other users."""

    username = forms.CharField(max_length=150)

    class Meta:
        model = Membership
        fields = ["lob", "username", "role"]
        labels = {"lob": "Line of business"}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        username, lob = cleaned.get("username"), cleaned.get("lob")
        if not username or lob is None:
            return cleaned
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            self.add_error("username", "No active user with this username.")
        elif Membership.objects.filter(lob=lob, user=user).exists():
            self.add_error("username", "Already a member of this line of business: change their role on their page.")
        else:
            self.instance.user = user
        return cleaned


class MembershipChangeForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        current = Membership.objects.select_related("lob").get(pk=self.instance.pk)
        if _would_orphan(current, role):
            raise forms.ValidationError(LAST_ADMIN)
        return role


@admin.register(Membership)
class MembershipAdmin(PortalAdmin):
    """A LOB's members and their roles: its admins add, change and remove them; every member sees the list."""

    access_object = "member"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})
    list_display = ["user", "lob", "role", "created_at"]
    list_filter = ["role", "lob"]
    list_select_related = ["user", "lob"]
    search_fields = ["user__username"]

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return ["lob", "username", "role"] if obj is None else ["user", "lob", "role", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        return [] if obj is None else ["user", "lob", "created_at"]

    def get_form(self, request: HttpRequest, obj: Membership | None = None, change: bool = False, **kwargs: Any) -> Any:
        kwargs["form"] = MembershipAddForm if obj is None else MembershipChangeForm
        return super().get_form(request, obj, change, **kwargs)

    def portal_save(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> Membership:
        return services.membership_set(lob=obj.lob, user=obj.user, role=obj.role, actor=request.user)

    def portal_delete(self, request: HttpRequest, obj: Membership) -> None:
        if _would_orphan(obj, None):
            raise PermissionDenied(LAST_ADMIN)
        services.membership_remove(membership=obj, actor=request.user)


@admin.register(CentralRoleAssignment)
class CentralRoleAssignmentAdmin(PortalAdmin):
    """Central roles; no policy line grants `central_role`, so only superusers manage them."""

    access_object = "central_role"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    list_display = ["user", "role", "specialty"]
    list_filter = ["role", "specialty"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    fields = ["user", "role", "specialty"]

    def get_readonly_fields(self, request: HttpRequest, obj: CentralRoleAssignment | None = None) -> list[str]:
        return [] if obj is None else ["user", "role"]

    def portal_save(self, request: HttpRequest, obj: CentralRoleAssignment, form: Any, change: bool) -> Any:
        return services.central_role_grant(user=obj.user, role=obj.role, specialty=obj.specialty, actor=request.user)


class PolicyRuleForm(forms.ModelForm):
    role = forms.RegexField(POLICY_ROLE, max_length=64, help_text="e.g. lob_developer.")
    domain = forms.RegexField(POLICY_DOMAIN, max_length=100, initial="*", help_text="*, central or lob:<slug>.")
    obj = forms.RegexField(POLICY_OBJECT, max_length=64, label="Object", help_text="What it acts on, e.g. use_case.")
    act = forms.ChoiceField(choices=[(act, act) for act in POLICY_ACTIONS], label="Action")

    class Meta:
        model = PolicyRule
        fields = ["role", "domain", "obj", "act"]


@admin.register(PolicyRule)
class PolicyRuleAdmin(PortalAdmin):
    """The casbin policy lines; added or removed (never edited), by superusers only (`policy`)."""

    access_object = "policy"
    form = PolicyRuleForm
    portal_actions = frozenset({VIEW, ADD, DELETE})
    list_display = ["role", "domain", "obj", "act"]
    list_filter = ["role", "domain"]
    fields = ["role", "domain", "obj", "act"]

    def portal_save(self, request: HttpRequest, obj: PolicyRule, form: Any, change: bool) -> PolicyRule:
        return services.policy_rule_add(role=obj.role, domain=obj.domain, obj=obj.obj, act=obj.act, actor=request.user)

    def portal_delete(self, request: HttpRequest, obj: PolicyRule) -> None:
        services.policy_rule_remove(rule=obj, actor=request.user)


# Django's own user and group pages, under the same guard (no policy line: superusers only).
admin.site.unregister(get_user_model())
admin.site.unregister(Group)


@admin.register(get_user_model())
class UserAdmin(PortalAdmin, auth_admin.UserAdmin):
    """Accounts (superusers only). A LOB member's credentials and powers are theirs: on another
    person's account who belongs to a LOB, the form shows them read-only and the password page
    refuses (403, audited, the LOB told); deactivating stays possible, audited and told."""

    access_object = "user"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})

    def _locked_for(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and bool(
            people.user_change_refused_fields(actor=request.user, user=obj, fields=PROTECTED_USER_FIELDS)
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if self._locked_for(request, obj):
            readonly += [name for name in PROTECTED_USER_FIELDS if name not in readonly and name != "password"]
        return readonly

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> Any:
        user = self.get_object(request, unquote(id))
        if self._locked_for(request, user):
            raise people.user_change_refuse(actor=request.user, user=user, fields={"password"}, via="portal")
        return super().user_change_password(request, id, form_url)

    def portal_save(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> Any:
        data = form.cleaned_data
        if not change:
            # The creation form has already hashed the new password into `obj`.
            return people.user_create(user=obj, actor=request.user)
        changes = {name: data[name] for name in form.changed_data if name in EDITABLE_USER_FIELDS}
        current = get_user_model().objects.get(pk=obj.pk)
        return people.user_update(user=current, actor=request.user, via="portal", **changes)

    def portal_delete(self, request: HttpRequest, obj: Any) -> None:
        people.user_delete(user=obj, actor=request.user)


@admin.register(Group)
class GroupAdmin(PortalAdmin, auth_admin.GroupAdmin):
    access_object = "group"
    portal_actions = frozenset({VIEW, ADD, CHANGE, DELETE})

    def portal_save(self, request: HttpRequest, obj: Group, form: Any, change: bool) -> Group:
        return people.group_save(
            group=obj,
            actor=request.user,
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data.get("permissions"),
        )

    def portal_delete(self, request: HttpRequest, obj: Group) -> None:
        people.group_delete(group=obj, actor=request.user)


@admin.register(PeopleNotice)
class PeopleNoticeAdmin(PortalAdmin):
    """What anyone but the LOB's own admins did (or tried) to the LOB's people; its members see it."""

    access_object = "member"
    lob_path = "lob"
    portal_actions = frozenset({VIEW})
    list_display = ["occurred_at", "lob", "actor", "action", "subject", "refused", "emailed_at", "webhook_posted_at"]
    list_filter = ["refused", "action", "lob"]
    list_select_related = ["lob"]
    search_fields = ["subject", "actor"]
    fields = [
        "lob",
        "occurred_at",
        "actor",
        "action",
        "subject",
        "refused",
        "details_shown",
        "audit_event_id",
        "emailed_at",
        "webhook_posted_at",
    ]
    readonly_fields = fields
    details_shown = human_column("details", key_values)


@admin.register(LobNoticeSettings)
class LobNoticeSettingsAdmin(PortalAdmin):
    """Where a LOB's people notices are posted (its admins set it)."""

    access_object = "member"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    list_display = ["lob", "webhook_url"]
    list_select_related = ["lob"]
    fields = ["lob", "webhook_url"]

    def get_readonly_fields(self, request: HttpRequest, obj: LobNoticeSettings | None = None) -> list[str]:
        return [] if obj is None else ["lob"]

    def portal_save(self, request: HttpRequest, obj: LobNoticeSettings, form: Any, change: bool) -> Any:
        return notices.lob_notice_settings_set(lob=obj.lob, webhook_url=obj.webhook_url, actor=request.user)


# Personal API tokens (every person's own page) and break-glass requests have modules of their own
# (prompt-template grants, which name use cases, are `lob_tenants.grant_admin`'s).
from genai_platform.access import break_glass_admin, token_admin  # noqa: E402, F401
