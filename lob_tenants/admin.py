"""The portal's tenant pages: LOBs (the platform team), and for a LOB's members their use cases,
API keys and prompt templates. Scoping and permissions are `access.portal.PortalAdmin`'s; writes
go through `lob_tenants.services`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.html import format_html

from genai_platform.access.onboarding import lob_onboard, lob_upsert
from genai_platform.access.policy import WRITE
from genai_platform.access.portal import ADD, CHANGE, VIEW, PortalAdmin
from model_catalog.models import Alias

from .apis import RESERVED_USE_CASE_SLUGS
from .models import ApiKey, Lob, PromptTemplate, UseCase
from .portal_forms import FormSection, bound_or_blank, form_page
from .prompts import template_check
from .selectors import prompt_templates_readable_by
from .services import (
    api_key_issue,
    api_key_revoke,
    api_key_rotate,
    api_key_scope,
    prompt_template_save,
    use_case_prompt_pin,
    use_case_upsert,
)

#: How long a rotated key keeps working beside its successor, when rotated from the portal.
PORTAL_ROTATION_OVERLAP = dt.timedelta(hours=1)


class LobOnboardForm(forms.ModelForm):
    """A new LOB with its first admin (onboarding); an existing LOB's details only."""

    admin_username = forms.CharField(max_length=150, required=False, help_text="The LOB's first admin.")
    admin_email = forms.EmailField(required=False, help_text="For a new account: where the sign-in link goes.")
    #: Set by the admin: who onboards (four-eyes: never the LOB's first admin).
    portal_user: Any = None

    class Meta:
        model = Lob
        fields = ["slug", "name", "business_owner", "cost_center"]

    def clean_admin_username(self) -> str:
        username = self.cleaned_data["admin_username"].strip()
        if self.instance.pk is None:
            if not username:
                raise ValidationError("A new line of business is onboarded with its first admin.")
            if self.portal_user is not None and username == self.portal_user.get_username():
                raise ValidationError(
                    "Four-eyes: you cannot make yourself the first admin of a LOB you onboard; name someone else."
                )
        return username


@admin.register(Lob)
class LobAdmin(PortalAdmin):
    """Lines of business are the platform team's (`lob` in `central`): onboarded here with their
    first admin (`access.onboarding.lob_onboard`); members do not edit their LOB here."""

    access_object = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    form = LobOnboardForm
    list_display = ["name", "slug", "business_owner", "cost_center"]
    search_fields = ["name", "slug"]

    def get_fields(self, request: HttpRequest, obj: Lob | None = None) -> list[str]:
        fields = ["slug", "name", "business_owner", "cost_center"]
        return [*fields, "admin_username", "admin_email"] if obj is None else [*fields, "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Lob | None = None) -> list[str]:
        return [] if obj is None else ["slug", "created_at"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.portal_user = request.user
        return form

    def portal_save(self, request: HttpRequest, obj: Lob, form: Any, change: bool) -> Lob:
        if not change:
            return lob_onboard(
                slug=obj.slug,
                name=obj.name,
                business_owner=obj.business_owner,
                cost_center=obj.cost_center,
                admin_username=form.cleaned_data["admin_username"],
                admin_email=form.cleaned_data["admin_email"],
                actor=request.user,
            ).lob
        return lob_upsert(
            slug=obj.slug,
            name=obj.name,
            business_owner=obj.business_owner,
            cost_center=obj.cost_center,
            actor=request.user,
        )


class UseCaseForm(forms.ModelForm):
    class Meta:
        model = UseCase
        fields = ["lob", "slug", "name", "description", "aliases", "prompt_template"]
        labels = {"lob": "Line of business"}

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_USE_CASE_SLUGS:
            raise forms.ValidationError(f'"{slug}" is reserved.')
        return slug

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        template, lob = cleaned.get("prompt_template"), cleaned.get("lob")
        # A new use case has no grants yet: only its own LOB's versions (an existing one's choices
        # are already narrowed to what it may read).
        if self.instance.pk is None and template is not None and lob is not None and template.lob_id != lob.pk:
            self.add_error("prompt_template", "Choose a template of this line of business.")
        return cleaned


class UseCaseAdmin(PortalAdmin):
    """A LOB registers its use cases here. A new one is a draft: sandbox keys work at once on the
    models available in sandbox; production keys need the governance board's approval.

    Registered by `governance.admin_use_cases` as the page plus the use case's governance (intake,
    status, reviews, the LOB's workflow actions), which are governance's: this app knows none of it."""

    access_object = "use_case"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    shared_relations = frozenset({"aliases"})
    form = UseCaseForm
    list_display = ["name", "slug", "lob", "status", "data_classification"]
    list_filter = ["status", "data_classification", "lob"]
    list_select_related = ["lob"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["aliases"]
    _board_fields = ["status", "data_classification", "response_cache_ttl_seconds"]

    def get_fields(self, request: HttpRequest, obj: UseCase | None = None) -> list[str]:
        fields = ["lob", "slug", "name", "description", "aliases", "prompt_template", *self._board_fields]
        return fields if obj is None else [*fields, "created_at"]

    def get_form(self, request: HttpRequest, obj: UseCase | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "prompt_template" in form.base_fields:
            # Its own LOB's versions and those shared with it by grant: what it may pin.
            form.base_fields["prompt_template"].queryset = prompt_templates_readable_by(use_case=obj)
        return form

    def get_readonly_fields(self, request: HttpRequest, obj: UseCase | None = None) -> list[str]:
        # The status is the governance workflow's; a use case never moves to another LOB.
        return self._board_fields if obj is None else ["lob", "slug", *self._board_fields, "created_at"]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "aliases":
            kwargs["queryset"] = Alias.objects.filter(is_active=True).order_by("name")
            kwargs["help_text"] = "Catalog models it calls. Sandbox keys reach those available in sandbox."
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> Any:
        return super().add_view(request, form_url, {**(extra_context or {}), "title": "Register a use case"})

    def portal_save(self, request: HttpRequest, obj: UseCase, form: Any, change: bool) -> UseCase:
        use_case = use_case_upsert(
            lob=obj.lob,
            slug=obj.slug,
            name=obj.name,
            description=obj.description,
            aliases=list(form.cleaned_data["aliases"]),
            actor=request.user,
        )
        template = form.cleaned_data.get("prompt_template")
        return use_case_prompt_pin(use_case=use_case, template_version=template, actor=request.user)


class ApiKeyIssueForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["use_case", "name", "environment", "expires_at"]
        help_texts = {
            "environment": "Sandbox keys work before approval, on models available in sandbox; "
            "production keys only while the use case's approval is current.",
            "expires_at": "Optional.",
        }

    def clean_expires_at(self) -> dt.datetime | None:
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return expires_at


class ApiKeyScopeForm(forms.Form):
    aliases = forms.ModelMultipleChoiceField(
        queryset=Alias.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Models",
        help_text="The key calls only the models ticked; none ticked: every model of its use case.",
    )

    def __init__(self, *args: Any, api_key: ApiKey, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"aliases": list(api_key.scopes.all())})
        super().__init__(*args, **kwargs)
        self.fields["aliases"].queryset = api_key.use_case.aliases.order_by("name")


def _issued(request: HttpRequest) -> list[tuple[ApiKey, str]]:
    """Keys issued while handling this request, with their plaintexts: they live in this response only."""
    return request.__dict__.setdefault("_issued_api_keys", [])


@admin.register(ApiKey)
class ApiKeyAdmin(PortalAdmin):
    """Keys are issued here (the plaintext is shown once, on the page that follows), listed, revoked
    and rotated. The secret's digest is never shown."""

    access_object = "api_key"
    lob_path = "use_case__lob"
    portal_actions = frozenset({VIEW, ADD})
    list_display = ["name", "prefix", "use_case", "environment", "created_at", "expires_at", "revoked_at"]
    list_filter = ["environment", "use_case__lob"]
    list_select_related = ["use_case__lob"]
    search_fields = ["name", "prefix"]
    actions = ["revoke", "rotate"]
    _shown = [
        "name",
        "prefix",
        "use_case",
        "environment",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "rotated_from",
        "scope_summary",
    ]

    @admin.display(description="models it may call")
    def scope_summary(self, api_key: ApiKey) -> str:
        names = ", ".join(sorted(alias.name for alias in api_key.scopes.all())) or "every model of its use case"
        change = reverse("admin:lob_tenants_apikey_scopes", args=[api_key.pk])
        return format_html('{} — <a href="{}">change</a>', names, change)

    def get_urls(self) -> list[Any]:
        scopes = path(
            "<path:object_id>/scopes/", self.admin_site.admin_view(self.scopes_view), name="lob_tenants_apikey_scopes"
        )
        return [scopes, *super().get_urls()]

    def scopes_view(self, request: HttpRequest, object_id: str) -> Any:
        """Limits the key to some of its use case's models (`api_key_scope`, as the API does)."""
        api_key = self.get_object(request, unquote(object_id))
        form = bound_or_blank(request, "scopes", ApiKeyScopeForm, api_key=api_key)
        if form.is_bound:
            self.portal_require(request, api_key, WRITE)
        if form.is_bound and form.is_valid():
            try:
                api_key_scope(api_key=api_key, aliases=list(form.cleaned_data["aliases"]), actor=request.user)
            except ValueError as refused:
                form.add_error("aliases", str(refused))
            else:
                self.message_user(request, "The key's models were saved.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:lob_tenants_apikey_change", args=[api_key.pk]))
        section = FormSection("scopes", "Models this key may call", form, "Save")
        return form_page(
            self,
            request,
            api_key,
            title="Scopes",
            sections=[section],
            can_write=self.portal_allows(request, WRITE, api_key),
        )

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        return list(ApiKeyIssueForm._meta.fields) if obj is None else self._shown

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyIssueForm
        return super().get_form(request, obj, change, **kwargs)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> Any:
        return super().add_view(request, form_url, {**(extra_context or {}), "title": "Issue an API key"})

    def portal_save(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> ApiKey:
        api_key, plaintext = api_key_issue(
            use_case=obj.use_case,
            name=obj.name,
            environment=obj.environment,
            expires_at=obj.expires_at,
            actor=request.user,
        )
        _issued(request).append((api_key, plaintext))
        return api_key

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> Any:
        return self.issued_response(request, _issued(request), title="API key issued")

    def issued_response(self, request: HttpRequest, issued: list[tuple[ApiKey, str]], *, title: str) -> Any:
        """The one page that ever shows the keys' plaintexts: not stored, not cached, not redirected to."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "issued": [{"api_key": api_key, "plaintext": plaintext} for api_key, plaintext in issued],
        }
        response = TemplateResponse(request, "admin/lob_tenants/apikey/issued.html", context)
        add_never_cache_headers(response)
        patch_cache_control(response, no_store=True)
        return response

    @admin.action(description="Revoke selected API keys", permissions=["write"])
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        writable = self.portal_scope(request, queryset, WRITE).select_related("use_case__lob")
        refused = queryset.count() - writable.count()
        revoked = 0
        for api_key in writable.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=request.user)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
        if refused:
            self.message_user(request, f"Your role does not let you revoke {refused} of them.", messages.WARNING)

    @admin.action(description="Rotate selected API keys (the old key works one more hour)", permissions=["write"])
    def rotate(self, request: HttpRequest, queryset: Any) -> Any:
        writable = self.portal_scope(request, queryset, WRITE).select_related("use_case__lob")
        candidates = [api_key for api_key in writable if api_key.is_active]
        if len(candidates) != queryset.count():
            self.message_user(
                request,
                "Only active keys that your role lets you write can be rotated; nothing was rotated.",
                messages.ERROR,
            )
            return None
        try:
            with transaction.atomic():  # every successor is shown, or none was made
                issued = [
                    api_key_rotate(api_key=key, overlap=PORTAL_ROTATION_OVERLAP, actor=request.user)
                    for key in candidates
                ]
        except ValueError as refused:
            self.message_user(request, f"Nothing was rotated: {refused}.", messages.ERROR)
            return None
        return self.issued_response(request, issued, title="API keys rotated")


class PromptTemplateForm(forms.ModelForm):
    """Checks the template and its declared variables as the service will, so a refusal is shown on the form."""

    class Meta:
        model = PromptTemplate
        fields = ["lob", "name", "template", "variables"]
        labels = {"lob": "Line of business"}
        help_texts = {
            "template": "Jinja2: {{ variable }}, {% if ... %}, {% for ... %}, rendered sandboxed. Saving a change "
            "stores it as a new version: a saved version never changes.",
            "variables": 'Every variable the template uses, e.g. [{"name": "customer", "type": "string", '
            '"description": "First name"}, {"name": "points", "type": "integer", "required": false, "default": 0}]. '
            "Types: string, integer, number, boolean.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "template" in cleaned and "variables" in cleaned:
            try:
                template_check(cleaned["template"], cleaned["variables"])
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


@admin.register(PromptTemplate)
class PromptTemplateAdmin(PortalAdmin):
    """A LOB's prompt templates are its data: its admins and developers read them (a central user
    only through break-glass, read-only), and write them as part of building use cases.

    A saved version never changes: its change page saves the edited text as the next version."""

    access_object = "lob_data"
    write_object = "use_case"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    form = PromptTemplateForm
    list_display = ["name", "version", "lob", "created_by", "created_at"]
    list_filter = ["lob"]
    list_select_related = ["lob", "created_by"]
    search_fields = ["name"]

    def get_fields(self, request: HttpRequest, obj: PromptTemplate | None = None) -> list[str]:
        fields = ["lob", "name", "template", "variables"]
        return fields if obj is None else [*fields, "version", "created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: PromptTemplate | None = None) -> list[str]:
        return [] if obj is None else ["lob", "name", "version", "created_by", "created_at"]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> Any:
        return super().add_view(request, form_url, {**(extra_context or {}), "title": "Add a prompt template"})

    def portal_save(self, request: HttpRequest, obj: PromptTemplate, form: Any, change: bool) -> PromptTemplate:
        # Adding and "changing" both save the next version; the row the form was opened on is never written.
        return prompt_template_save(
            lob=obj.lob,
            name=obj.name,
            template=form.cleaned_data["template"],
            variables=form.cleaned_data["variables"],
            actor=request.user,
        )

    def response_change(self, request: HttpRequest, obj: PromptTemplate) -> Any:
        self.message_user(request, f"Saved as a new version, {obj}; earlier versions are unchanged.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:lob_tenants_prompttemplate_change", args=[obj.pk]))


# The prompt-template grants page has a module of its own.
from lob_tenants import grant_admin  # noqa: E402, F401
