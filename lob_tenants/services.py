"""Writes about tenants: use cases, API keys, objects shared with another LOB's use case and prompt
templates, each audited in its own transaction. A LOB's own record is written by access
(`access.onboarding.lob_upsert`), below which the LOB lives (`genai_platform.tenancy`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_slug
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from genai_platform import hotcache
from genai_platform.access.selectors import user_can_in_lob
from genai_platform.audit.services import audit_actor, audit_record
from model_catalog.models import Alias

from .keys import key_generate
from .models import ApiKey, Lob, PromptTemplate, UseCase
from .prompts import template_check
from .selectors import key_cache_key, object_view_permission, prompt_template_readable


@transaction.atomic
def use_case_upsert(
    *,
    lob: Lob,
    slug: str,
    name: str,
    description: str = "",
    aliases: list[Alias] | None = None,
    status: str | None = None,
    actor: Any = None,
) -> UseCase:
    defaults: dict[str, Any] = {"name": name, "description": description}
    if status is not None:
        defaults["status"] = status
    use_case, created = UseCase.objects.update_or_create(lob=lob, slug=slug, defaults=defaults)
    if aliases is not None:
        use_case.aliases.set(aliases)
    audit_record(
        actor=audit_actor(actor),
        action="use_case.created" if created else "use_case.updated",
        target=use_case,
        lob_slug=lob.slug,
        after={**defaults, "aliases": sorted(a.name for a in aliases or [])},
    )
    api_keys_forget(use_case)
    return use_case


@transaction.atomic
def api_key_issue(
    *,
    use_case: UseCase,
    name: str,
    environment: str = ApiKey.Environment.SANDBOX,
    expires_at: dt.datetime | None = None,
    actor: Any = None,
) -> tuple[ApiKey, str]:
    """Issues a key and returns it with its plaintext, which is shown once and never stored."""
    new_key = key_generate()
    api_key = ApiKey.objects.create(
        use_case=use_case,
        name=name,
        environment=environment,
        prefix=new_key.prefix,
        secret_hash=new_key.secret_hash,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        actor=audit_actor(actor),
        action="api_key.issued",
        target=api_key,
        lob_slug=use_case.lob.slug,
        after={"name": name, "prefix": new_key.prefix, "environment": environment, "use_case": use_case.slug},
    )
    return api_key, new_key.plaintext


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Any = None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            actor=audit_actor(actor),
            action="api_key.revoked",
            target=api_key,
            lob_slug=api_key.use_case.lob.slug,
            after={"prefix": api_key.prefix},
        )
        transaction.on_commit(lambda: hotcache.invalidate(key_cache_key(api_key.prefix)))
    return api_key


@transaction.atomic
def api_key_rotate(*, api_key: ApiKey, overlap: dt.timedelta, actor: Any = None) -> tuple[ApiKey, str]:
    """Issues a successor with the same use case, environment and scopes; the old key keeps working
    for `overlap` (so deployments can switch without downtime), then expires.

    A key is rotated once: its successor is the one to rotate next. The row lock makes two
    concurrent rotations of the same key one success and one refusal, never a constraint error."""
    api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
    if not api_key.is_active:
        raise ValueError("only an active key can be rotated")
    successor_prefix = ApiKey.objects.filter(rotated_from=api_key).values_list("prefix", flat=True).first()
    if successor_prefix is not None:
        raise ValueError(f"this key was already rotated; rotate its successor {successor_prefix} instead")
    successor, plaintext = api_key_issue(
        use_case=api_key.use_case,
        name=api_key.name,
        environment=api_key.environment,
        expires_at=api_key.expires_at,
        actor=actor,
    )
    successor.scopes.set(api_key.scopes.all())
    successor.rotated_from = api_key
    successor.save(update_fields=["rotated_from"])
    overlap_end = timezone.now() + overlap
    api_key.expires_at = min(api_key.expires_at, overlap_end) if api_key.expires_at else overlap_end
    api_key.save(update_fields=["expires_at"])
    audit_record(
        actor=audit_actor(actor),
        action="api_key.rotated",
        target=api_key,
        lob_slug=api_key.use_case.lob.slug,
        after={"successor": successor.prefix, "old_key_expires_at": api_key.expires_at.isoformat()},
    )
    transaction.on_commit(lambda: hotcache.invalidate(key_cache_key(api_key.prefix)))
    return successor, plaintext


@transaction.atomic
def api_key_scope(*, api_key: ApiKey, aliases: list[Alias], actor: Any = None) -> ApiKey:
    """Limits a key to some of its use case's aliases (an empty list lifts the limit)."""
    foreign = {a.name for a in aliases} - set(api_key.use_case.aliases.values_list("name", flat=True))
    if foreign:
        raise ValueError(f"not models of this use case: {', '.join(sorted(foreign))}")
    api_key.scopes.set(aliases)
    audit_record(
        actor=audit_actor(actor),
        action="api_key.scoped",
        target=api_key,
        lob_slug=api_key.use_case.lob.slug,
        after={"scopes": sorted(a.name for a in aliases)},
    )
    transaction.on_commit(lambda: hotcache.invalidate(key_cache_key(api_key.prefix)))
    return api_key


def api_keys_forget(use_case: UseCase) -> None:
    """After commit, makes every process re-read what the use case's keys may do (within seconds)."""
    prefixes = [key_cache_key(p) for p in use_case.api_keys.values_list("prefix", flat=True)]
    if prefixes:
        transaction.on_commit(lambda: hotcache.invalidate(*prefixes))


# ---- sharing one object with another LOB's use case ----


def use_case_grant_group(use_case: UseCase) -> Group:
    """The auth group that stands for `use_case` in object grants (created on first need)."""
    if use_case.grant_group_id is None:
        use_case.grant_group = Group.objects.create(name=f"use-case:{use_case.pk}")
        use_case.save(update_fields=["grant_group"])
    return use_case.grant_group


@transaction.atomic
def object_share(*, obj: models.Model, owner_lob: Lob, use_case: UseCase, actor: Any) -> None:
    """Lets `use_case` (of any LOB) read `obj`, which `owner_lob` owns; only the owner's admins may share."""
    if not user_can_in_lob(actor, owner_lob, "grant", "write"):
        raise PermissionDenied("only an admin of the owning LOB can share its objects")
    assign_perm(object_view_permission(obj), use_case_grant_group(use_case), obj)
    audit_record(
        actor=audit_actor(actor),
        action="grant.shared",
        target=obj,
        lob_slug=owner_lob.slug,
        after={"use_case": str(use_case), "permission": object_view_permission(obj)},
    )


@transaction.atomic
def object_unshare(*, obj: models.Model, owner_lob: Lob, use_case: UseCase, actor: Any) -> None:
    if not user_can_in_lob(actor, owner_lob, "grant", "write"):
        raise PermissionDenied("only an admin of the owning LOB can revoke its grants")
    remove_perm(object_view_permission(obj), use_case_grant_group(use_case), obj)
    # A key's cached principal carries what its grants let it read (a pinned prompt template): re-read it.
    api_keys_forget(use_case)
    audit_record(
        actor=audit_actor(actor),
        action="grant.revoked",
        target=obj,
        lob_slug=owner_lob.slug,
        before={"use_case": str(use_case), "permission": object_view_permission(obj)},
    )


# ---- the prompt catalog ----


@transaction.atomic
def prompt_template_save(*, lob: Lob, name: str, template: str, variables: Any, actor: Any = None) -> PromptTemplate:
    """Saves `template` as the next version of `lob`'s template `name` (version 1 for a new name).

    Refuses (ValidationError) a name that is no slug, a syntax error, a malformed declaration, or a
    variable used but not declared or declared but not used. Versions are numbered under a lock
    on the LOB's row, so concurrent saves get consecutive numbers; the unique constraint on
    (lob, name, version) stays the last guard."""
    validate_slug(name)
    if len(name) > PromptTemplate._meta.get_field("name").max_length:
        raise ValidationError("The template name is too long.")
    specs = template_check(template, variables)
    Lob.objects.select_for_update(no_key=True).filter(pk=lob.pk).exists()
    latest = PromptTemplate.objects.filter(lob=lob, name=name).aggregate(latest=Max("version"))["latest"]
    saved = PromptTemplate.objects.create(
        lob=lob,
        name=name,
        version=(latest or 0) + 1,
        template=template,
        variables=[spec.as_dict() for spec in specs],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    # The text is the LOB's data, and the audit log is read centrally: its digest proves what was saved.
    audit_record(
        actor=audit_actor(actor),
        action="prompt_template.saved",
        target=saved,
        lob_slug=lob.slug,
        after={
            "name": name,
            "version": saved.version,
            "variables": [spec.name for spec in specs],
            "sha256": hashlib.sha256(template.encode()).hexdigest(),
        },
    )
    return saved


@transaction.atomic
def use_case_prompt_pin(*, use_case: UseCase, template_version: PromptTemplate | None, actor: Any = None) -> UseCase:
    """Pins one version for the gateway to render first into the use case's chat completions (None
    unpins). Only a version of the use case's own LOB, or one shared with it by grant, can be pinned.
    The change is audited and reaches every gateway process within its local cache's few seconds."""
    use_case = (
        UseCase.objects.select_for_update(of=("self",))
        .select_related("lob", "prompt_template__lob")
        .get(pk=use_case.pk)
    )
    if template_version is not None and not prompt_template_readable(use_case=use_case, template=template_version):
        raise ValidationError(
            f"{template_version} is neither a template of {use_case.lob.slug} nor shared with use case {use_case}."
        )
    before = use_case.prompt_template
    if (before.pk if before else None) == (template_version.pk if template_version else None):
        return use_case
    use_case.prompt_template = template_version
    use_case.save(update_fields=["prompt_template"])
    audit_record(
        actor=audit_actor(actor),
        action="use_case.prompt_pinned",
        target=use_case,
        lob_slug=use_case.lob.slug,
        before={"prompt_template": str(before) if before else None},
        after={"prompt_template": str(template_version) if template_version else None},
    )
    api_keys_forget(use_case)
    return use_case
