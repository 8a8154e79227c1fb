"""Reads about tenants: keys, use cases, what a use case may read of another LOB's (grants), the
prompt catalog. A key's principal, what the call path knows of a caller, is assembled from these
and governance's approval facts in `inference.principal`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from guardian.core import ObjectPermissionChecker

from .models import ApiKey, Lob, PromptTemplate, PromptTemplateGroupObjectPermission, UseCase
from .prompts import PinnedPrompt, variable_specs


def key_cache_key(prefix: str) -> str:
    """Where a key's principal is cached (`inference.principal`); this app's services delete the
    entry after a commit that changes the key or its use case."""
    return f"apikey:{prefix}"


def api_key_by_prefix(prefix: str) -> ApiKey | None:
    """The key of `prefix` with its use case, LOB and pinned template, revoked or not."""
    return (
        ApiKey.objects.select_related("use_case__lob", "use_case__prompt_template__lob").filter(prefix=prefix).first()
    )


def use_case_for_calls(use_case: UseCase) -> UseCase:
    """The use case again, with what a call reads of it (its LOB and pinned template)."""
    return UseCase.objects.select_related("lob", "prompt_template__lob").get(pk=use_case.pk)


def aliases_usable_by(use_case: UseCase, key: ApiKey | None) -> frozenset[str]:
    """The aliases a key may call: its use case's, narrowed to the key's scopes when it has any."""
    allowed = set(use_case.aliases.values_list("name", flat=True))
    scopes = set(key.scopes.values_list("name", flat=True)) if key is not None else set()
    if scopes:
        allowed &= scopes
    return frozenset(allowed)


#: `<lob>/<use case>`: how a use case of any LOB is named (whom an object is shared with).
USE_CASE_PATH = r"^[-a-zA-Z0-9_]+/[-a-zA-Z0-9_]+$"


def use_case_by_path(path: str) -> UseCase | None:
    """The use case named `<lob>/<use case>`, of any LOB, or None."""
    lob_slug, _, slug = path.partition("/")
    return UseCase.objects.filter(lob__slug=lob_slug, slug=slug).select_related("lob").first()


def use_case_to_share_with(*, owner_lob: Lob, reference: str) -> UseCase:
    """The use case `<lob>/<use case>` that `owner_lob` may share an object with: another LOB's, named
    as its admins tell it (no list of other LOBs' use cases is ever offered). ValidationError if none."""
    use_case = use_case_by_path(reference.strip())
    if use_case is None:
        raise ValidationError("No such use case: write <lob>/<use case>.")
    if use_case.lob_id == owner_lob.pk:
        raise ValidationError("A use case reads its own LOB's objects without a grant.")
    return use_case


def use_cases_of(lob: Lob) -> QuerySet[UseCase]:
    """The LOB's use cases by name, with what their API documents show."""
    return (
        UseCase.objects.filter(lob=lob)
        .select_related("prompt_template__lob")
        .prefetch_related("aliases")
        .order_by("name", "slug")
    )


def active_keys_of(use_case: UseCase) -> QuerySet[ApiKey]:
    """The use case's keys that still authenticate (not revoked, not expired), by name."""
    now = timezone.now()
    return (
        ApiKey.objects.filter(use_case=use_case, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("use_case__lob")
        .order_by("name", "pk")
    )


def pinned_prompt(use_case: UseCase) -> PinnedPrompt | None:
    """The template version the use case pins, as the core renders it, or None."""
    template = use_case.prompt_template
    if template is None:
        return None
    return PinnedPrompt(
        template_id=template.pk,
        label=str(template),
        template=template.template,
        variables=variable_specs(template.variables),
        readable=prompt_template_readable(use_case=use_case, template=template),
    )


# ---- objects shared with another LOB's use case ----


def object_view_permission(obj: models.Model) -> str:
    """The permission a grant on `obj` gives: reading it (`<app>.view_<model>`)."""
    return f"{obj._meta.app_label}.view_{obj._meta.model_name}"


def use_case_can_read(use_case: UseCase, obj: models.Model, owner_lob_id: int) -> bool:
    """A use case reads its own LOB's objects, and another LOB's only through a grant."""
    if use_case.lob_id == owner_lob_id:
        return True
    if use_case.grant_group_id is None:
        return False
    return ObjectPermissionChecker(use_case.grant_group).has_perm(object_view_permission(obj).split(".")[1], obj)


# ---- the prompt catalog ----


def prompt_templates_of(*, lob: Lob, name: str | None = None) -> QuerySet[PromptTemplate]:
    """Every version of `lob`'s own templates (of one name, if given), newest version first."""
    templates = PromptTemplate.objects.filter(lob=lob).select_related("lob", "created_by")
    if name is not None:
        templates = templates.filter(name=name)
    return templates.order_by("name", "-version")


def prompt_template_latest(*, lob: Lob, name: str) -> PromptTemplate | None:
    return prompt_templates_of(lob=lob, name=name).first()


def prompt_templates_readable_by(*, use_case: UseCase) -> QuerySet[PromptTemplate]:
    """The versions `use_case` may pin and render: its own LOB's, and other LOBs' shared with it by grant."""
    own = Q(lob_id=use_case.lob_id)
    if use_case.grant_group_id is None:
        readable = own
    else:
        granted = PromptTemplateGroupObjectPermission.objects.filter(
            group_id=use_case.grant_group_id, permission__codename="view_prompttemplate"
        ).values("content_object_id")
        readable = own | Q(pk__in=granted)
    return PromptTemplate.objects.filter(readable).select_related("lob").order_by("lob__slug", "name", "-version")


def prompt_template_grants_of(lob: Lob) -> QuerySet[PromptTemplateGroupObjectPermission]:
    """Grants on `lob`'s prompt templates to use cases (of any LOB); never another owner's grants."""
    return (
        PromptTemplateGroupObjectPermission.objects.filter(content_object__lob=lob, group__use_case__isnull=False)
        .select_related("content_object", "group__use_case__lob", "permission")
        .order_by("content_object__name", "-content_object__version", "group__name")
    )


def prompt_template_readable(*, use_case: UseCase, template: PromptTemplate) -> bool:
    return prompt_templates_readable_by(use_case=use_case).filter(pk=template.pk).exists()
