"""The self-service portal (the Django admin): one authorization guard for every admin view.

Every registered `ModelAdmin` subclasses `PortalAdmin` and declares what it shows; the guard
answers every question Django's admin asks (may this user see the app, the list, this row, the
add form, this action?) from the casbin policy through `access.selectors`, never from Django's
model permissions. A LOB user needs the staff flag to log in, and nothing else in Django.

What an admin class declares:

- `access_object`: the policy object (`policy.DEFAULT_POLICY`) that reading needs;
  `write_object` when writing needs another one (default: the same);
- `lob_path`: the ORM path from the model to its owning `Lob` (`"lob"`, `"use_case__lob"`); `None`
  for a central model (the catalog, LOBs themselves, budgets, the audit log), decided in the
  `central` domain;
- `central_object`: for a LOB-owned model, the central policy object that opens every LOB's rows
  (the usage ledger's `usage` for the platform team); `None` (the default) means no central role
  ever sees the model's rows;
- `view_action`: the action that reading needs (`read`; `write` for a page that belongs to those who
  decide, as the break-glass decision queue does, like the API's `access_action`);
- `portal_actions`: which of view, add, change and delete the model offers at all;
- `shared_relations`: relations that point at shared reference data (catalog aliases), offered
  unscoped in forms.

What the guard does with that, for a LOB-owned model:

- rows: `get_queryset` keeps the rows of the LOBs where the user's role permits `access_object`
  `read` (so do the list, its counts, search, date hierarchy and facets, the change, delete and
  history pages, and admin actions, which all start from it); a row of another LOB is a 404 like
  an unknown id, and a user with no role for the model at all gets a 403;
- filters: a relation in `list_filter` offers only values that occur in the visible rows
  (`RelatedOnlyFieldListFilter`), so another LOB's name never appears;
- forms: a foreign key or many-to-many field offers only rows of the LOBs where the user may
  write; a relation to a model the portal cannot scope offers nothing (fail closed) unless listed
  in `shared_relations`;
- writes: `save_model` and `delete_model` check the object's LOB again, then call `portal_save` /
  `portal_delete`, which each admin implements by calling its app's services (no business logic
  in admin classes; bulk deletes go object by object through the same path).

Decisions (see also `access.selectors`):

- Django superusers count as platform admins in `central` and nothing more: they manage the
  catalog, LOBs, budgets and see the usage ledger and audit log, but see no use case, API key,
  member list or prompt template of a LOB they are not a member of. `seed_demo` makes its demo
  admin both a platform admin and the demo LOB's admin, so `make run` shows everything.
- API keys (name, prefix, environment, dates, never the secret or its digest) are LOB management
  data: only the LOB's members see them, as in the management API, where a LOB URL is a 404 to a
  central role. The rate-limit admin therefore shows no key picker.
- Prompt templates and captured exchanges are LOB data (`lob_data` `read`: LOB admins and
  developers). A central user reads one LOB's data, read-only, only while an approved break-glass
  request for that LOB lasts. Writing a prompt template is part of building use cases
  (`use_case` `write`).
- The audit log is central (`audit` `read`: platform admins and governance reviewers).
- Granting central roles, editing policy lines, users and groups have no policy line, so only
  superusers (everything in `central`) reach them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.contrib.admin.filters import RelatedFieldListFilter, RelatedOnlyFieldListFilter
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from genai_platform.tenancy.models import Lob, LobUserObjectPermission

from .models import CENTRAL, BreakGlassRequest
from .policy import READ, WRITE
from .selectors import lobs_for, user_can

#: The admin operations a model can offer; `portal_actions` picks among them.
VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
LOB_DATA = "lob_data"


def break_glass_lob_ids(user: Any) -> frozenset[int]:
    """LOBs whose data `user` may read through an approved, unexpired break-glass grant.

    Reads the grant rows themselves rather than `user.has_perm`, which is true of every permission
    for a superuser (being a superuser never opens a LOB's data), and honours the request's expiry
    to the second rather than waiting for the job that withdraws expired grants."""
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    granted = LobUserObjectPermission.objects.filter(
        user=user, permission__codename="view_lob_data", permission__content_type__app_label="lob_tenants"
    ).values_list("content_object_id", flat=True)
    lasting = BreakGlassRequest.objects.filter(
        requester=user, status=BreakGlassRequest.Status.APPROVED, expires_at__gt=timezone.now()
    ).values_list("lob_id", flat=True)
    return frozenset(granted) & frozenset(lasting)


def lob_ids_for(user: Any, obj: str, act: str) -> frozenset[int]:
    """The LOBs where `user` may `act` on `obj`: by their membership's role, and for reading LOB
    data also by break-glass."""
    ids = frozenset(lobs_for(user, obj, act).values_list("pk", flat=True))
    if obj == LOB_DATA and act == READ:
        ids |= break_glass_lob_ids(user)
    return ids


def _decisions(request: HttpRequest) -> dict[tuple[Any, ...], Any]:
    """Per-request memo: the admin asks the same question many times while drawing one page."""
    return request.__dict__.setdefault("_portal_decisions", {})


class PortalAdmin(admin.ModelAdmin):
    """A `ModelAdmin` whose every permission, row and choice comes from the access policy."""

    access_object: str = ""
    write_object: str = ""
    lob_path: str | None = None
    central_object: str | None = None
    view_action: str = READ
    portal_actions: frozenset[str] = frozenset({VIEW})
    shared_relations: frozenset[str] = frozenset()
    #: Model fields whose stored form no person should read (`0.150000`, `None` for "no limit"), each
    #: with the admin column (`formatting.human_column`) shown in its place on a page the viewer may
    #: only read; where they may change the row, the form's input stays.
    read_as: dict[str, str] = {}

    # ---- the decisions ----

    def policy_object(self, act: str) -> str:
        return (self.write_object or self.access_object) if act == WRITE else self.access_object

    def portal_lob_ids(self, request: HttpRequest, act: str) -> frozenset[int] | None:
        """The LOBs whose rows `request.user` may `act` on; None means every LOB (a central role)."""
        key = ("lobs", type(self), act)
        memo = _decisions(request)
        if key not in memo:
            user = request.user
            if self.central_object and user_can(user, CENTRAL, self.central_object, act):
                memo[key] = None
            else:
                memo[key] = lob_ids_for(user, self.policy_object(act), act)
        return memo[key]

    def portal_allows(self, request: HttpRequest, act: str, obj: models.Model | None = None) -> bool:
        """Whether the user may `act` on this model at all (obj None) or on `obj`."""
        if self.lob_path is None:
            return user_can(request.user, CENTRAL, self.policy_object(act), act)
        ids = self.portal_lob_ids(request, act)
        if ids is None:
            return True
        if obj is None:
            return bool(ids)
        return self.owner_lob_id(obj) in ids

    def owner_lob_id(self, obj: models.Model) -> int | None:
        """The id of the LOB that owns `obj`, following `lob_path` (works on an unsaved instance)."""
        assert self.lob_path is not None
        *hops, last = self.lob_path.split("__")
        target: Any = obj
        for hop in hops:
            target = getattr(target, hop, None)
            if target is None:
                return None
        return getattr(target, f"{last}_id", None)

    def portal_scope(self, request: HttpRequest, queryset: QuerySet, act: str) -> QuerySet:
        """`queryset` narrowed to the rows the user may `act` on."""
        if self.lob_path is None:
            return queryset if self.portal_allows(request, act) else queryset.none()
        ids = self.portal_lob_ids(request, act)
        return queryset if ids is None else queryset.filter(**{f"{self.lob_path}__in": ids})

    def portal_require(self, request: HttpRequest, obj: models.Model, act: str) -> None:
        if not self.portal_allows(request, act, obj):
            raise PermissionDenied

    # ---- Django's questions ----

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request) or self.has_add_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return VIEW in self.portal_actions and self.portal_allows(request, self.view_action, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return ADD in self.portal_actions and self.portal_allows(request, WRITE)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return CHANGE in self.portal_actions and self.portal_allows(request, WRITE, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return DELETE in self.portal_actions and self.portal_allows(request, WRITE, obj)

    def has_write_permission(self, request: HttpRequest) -> bool:
        """For admin actions (`@admin.action(permissions=["write"])`); each action still writes
        only the selected rows the user may write (`portal_scope(..., WRITE)`)."""
        return self.portal_allows(request, WRITE)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.portal_scope(request, self.portal_rows(request), self.view_action)

    def portal_rows(self, request: HttpRequest) -> QuerySet:
        """The rows this page is about, before the guard narrows them (override to show fewer)."""
        return super().get_queryset(request)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        """A row outside the user's LOBs is a 404, like an unknown id; no role for the model is a 403."""
        if not (self.has_view_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} matches the given query.")
        return obj

    def get_fields(self, request: HttpRequest, obj: models.Model | None = None) -> list[Any]:
        fields = super().get_fields(request, obj)
        if not self.read_as or obj is None or self.has_change_permission(request, obj):
            return fields
        return [self.read_as.get(name, name) for name in fields]

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        return [self._scoped_filter(entry) for entry in super().get_list_filter(request)]

    def _scoped_filter(self, entry: Any) -> Any:
        """A relation filter offers only values present in the user's rows, never the whole table."""
        if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
            return (entry, RelatedOnlyFieldListFilter)
        if isinstance(entry, tuple) and isinstance(entry[1], type) and issubclass(entry[1], RelatedFieldListFilter):
            return (entry[0], RelatedOnlyFieldListFilter)
        return entry

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs["queryset"] = self.relation_choices(request, db_field, kwargs.get("queryset"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs["queryset"] = self.relation_choices(request, db_field, kwargs.get("queryset"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def relation_choices(self, request: HttpRequest, db_field: Any, queryset: QuerySet | None) -> QuerySet:
        """What a form may offer for a relation: rows of the LOBs the user may write to."""
        related = db_field.remote_field.model
        if queryset is None:
            queryset = self.get_field_queryset(None, db_field, request) or related._default_manager.all()
        if self.lob_path is None or db_field.name in self.shared_relations:
            return queryset
        ids = self.portal_lob_ids(request, WRITE)
        if ids is None:
            return queryset
        if related is Lob:
            return queryset.filter(pk__in=ids)
        related_admin = self.admin_site._registry.get(related)
        if isinstance(related_admin, PortalAdmin) and related_admin.lob_path:
            return queryset.filter(**{f"{related_admin.lob_path}__in": ids})
        return queryset.none()

    # ---- writes go through services ----

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        self.portal_require(request, obj, WRITE)
        saved = self.portal_save(request, obj, form, change)
        if saved is not obj:
            # The admin goes on with `obj` (log entry, redirect): let it be what the service saved.
            obj.__dict__.update(saved.__dict__)

    def save_related(self, request: HttpRequest, form: Any, formsets: Iterable[Any], change: bool) -> None:
        # The form's own relations are `portal_save`'s to write; inlines save under their own guard.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        self.portal_require(request, obj, WRITE)
        self.portal_delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def portal_save(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> models.Model:
        """Writes the form through the app's services; returns the saved row."""
        raise ImproperlyConfigured(f"{type(self).__name__} offers add or change but implements no portal_save")

    def portal_delete(self, request: HttpRequest, obj: models.Model) -> None:
        raise ImproperlyConfigured(f"{type(self).__name__} offers delete but implements no portal_delete")

    # ---- configuration check (`manage.py check`) ----

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = list(super().check(**kwargs))
        name = type(self).__name__
        if not self.access_object:
            errors.append(checks.Error(f"{name} declares no access_object", obj=type(self), id="access.E001"))
        if self.lob_path is not None:
            try:
                field = get_fields_from_path(self.model, self.lob_path)[-1]
            except (FieldDoesNotExist, NotRelationField):
                field = None
            if field is None or getattr(field.remote_field, "model", None) is not Lob:
                errors.append(checks.Error(f"{name}.lob_path does not lead to a Lob", obj=type(self), id="access.E002"))
        unknown = set(self.portal_actions) - {VIEW, ADD, CHANGE, DELETE}
        if unknown:
            errors.append(checks.Error(f"{name}.portal_actions: unknown {sorted(unknown)}", id="access.E003"))
        return errors


class PortalInline(admin.options.InlineModelAdmin):
    """An inline decides nothing itself: it may do what its parent admin may do to the parent row."""

    def _parent_admin(self) -> PortalAdmin:
        parent = self.admin_site._registry[self.parent_model]
        assert isinstance(parent, PortalAdmin), "a portal inline belongs to a PortalAdmin"
        return parent

    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._parent_admin().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None) -> bool:
        parent = self._parent_admin()
        return parent.has_change_permission(request, obj) if obj is not None else parent.has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        parent = self._parent_admin()
        return parent.has_change_permission(request, obj) if obj is not None else parent.has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self.has_change_permission(request, obj)


class PortalTabularInline(PortalInline, admin.TabularInline):
    pass
