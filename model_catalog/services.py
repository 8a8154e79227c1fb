"""Writes to the catalog: the only way its rows change, from the portal, the management API and the
YAML import alike.

Each service validates the row (`full_clean`), saves it, writes one audit event with the row as it
was (`before`, None for a new row) and as it is (`after`) in the same transaction, and bumps the
catalog generation after commit so every gateway re-reads its cached routing snapshot.

The `*_save` services take an instance with its new values assigned (what a portal form or an API
serializer produced) and work out the change themselves, so a caller cannot forget the audit. The
lifecycle services (`deployment_deprecate`, `deployment_retire`, `alias_retire`) are the moves the
platform team makes on a live catalog; nothing is deleted while something still routes to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from genai_platform.audit.services import audit_actor, audit_record

from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from .selectors import catalog_invalidate

#: The audit name of each catalog kind (`catalog.<kind>.<verb>`).
KIND_NAMES: dict[type[models.Model], str] = {
    ProviderAccount: "provider_account",
    CatalogModel: "model",
    Deployment: "deployment",
    Alias: "alias",
    Route: "route",
}


class CatalogEntryInUse(ValidationError):
    """A catalog row that something still references cannot be deleted; `users` names what."""

    def __init__(self, instance: models.Model, users: list[str]) -> None:
        super().__init__(f"{instance} is still used by {', '.join(users)}; retire it instead.")
        self.users = users


@dataclass(frozen=True)
class RouteSpec:
    """One route of an alias as a caller asks for it."""

    deployment: Deployment
    priority: int = 1
    weight: int = 1


# ---- the shared mechanics ----


def catalog_row_state(instance: models.Model | None) -> dict[str, Any] | None:
    """A row's audited form: every concrete field, relations by name (names are what people read)."""
    if instance is None:
        return None
    state: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or getattr(field, "auto_now_add", False):
            continue
        if field.is_relation:
            related = getattr(instance, field.name)
            state[field.name] = getattr(related, "name", str(related)) if related is not None else None
        else:
            value = getattr(instance, field.attname)
            state[field.name] = value.isoformat() if isinstance(value, dt.date) else value
    if isinstance(instance, Alias) and instance.pk is not None:
        state["routes"] = _routes_state(instance)
    return state


def _routes_state(alias: Alias) -> list[dict[str, Any]]:
    return [
        {"deployment": r.deployment.name, "priority": r.priority, "weight": r.weight}
        for r in alias.routes.select_related("deployment").order_by("priority", "deployment__name")
    ]


def _stored(instance: models.Model) -> models.Model | None:
    if instance.pk is None:
        return None
    return type(instance)._default_manager.filter(pk=instance.pk).first()


def _record(
    *, instance: models.Model, verb: str, actor: Any, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> None:
    audit_record(
        actor=audit_actor(actor),
        action=f"catalog.{KIND_NAMES[type(instance)]}.{verb}",
        target=instance,
        before=before,
        after=after,
    )
    transaction.on_commit(catalog_invalidate)


def _save(instance: models.Model, *, actor: Any, audited_by_caller: bool, exclude: list[str] | None = None) -> Any:
    """Validates and saves `instance`; records the change unless the caller writes one event for a batch."""
    stored = _stored(instance)
    before = catalog_row_state(stored)
    instance.full_clean(exclude=exclude, validate_unique=True)
    instance.save()
    after = catalog_row_state(instance)
    if before == after:
        return instance
    if not audited_by_caller:
        _record(instance=instance, verb="changed" if stored else "created", actor=actor, before=before, after=after)
    else:
        transaction.on_commit(catalog_invalidate)
    return instance


# ---- rows, created or changed ----


@transaction.atomic
def provider_account_save(*, account: ProviderAccount, actor: Any, audited_by_caller: bool = False) -> ProviderAccount:
    """Creates or changes a provider account. Its credentials are references (env:/file:), never secrets."""
    return _save(account, actor=actor, audited_by_caller=audited_by_caller)


@transaction.atomic
def catalog_model_save(*, model: CatalogModel, actor: Any, audited_by_caller: bool = False) -> CatalogModel:
    """Creates or changes a model's description (capabilities, context window)."""
    return _save(model, actor=actor, audited_by_caller=audited_by_caller)


@transaction.atomic
def deployment_save(*, deployment: Deployment, actor: Any, audited_by_caller: bool = False) -> Deployment:
    """Creates or changes a deployment (provider model id, prices, lifecycle and its dates)."""
    return _save(deployment, actor=actor, audited_by_caller=audited_by_caller)


@transaction.atomic
def alias_save(*, alias: Alias, actor: Any, audited_by_caller: bool = False) -> Alias:
    """Creates or changes an alias's own fields; its routes change through `alias_routes_set`."""
    return _save(alias, actor=actor, audited_by_caller=audited_by_caller, exclude=["created_at"])


@transaction.atomic
def alias_routes_set(*, alias: Alias, routes: list[RouteSpec], actor: Any, audited_by_caller: bool = False) -> Alias:
    """Makes `alias` route to exactly `routes`; one audit event with the routes before and after."""
    names = [spec.deployment.name for spec in routes]
    if len(set(names)) != len(names):
        raise ValidationError({"routes": "Each deployment may appear once in an alias's routes."})
    if any(spec.priority < 0 or spec.weight < 0 for spec in routes):
        raise ValidationError({"routes": "Priorities and weights are zero or more."})
    before = catalog_row_state(alias)
    alias.routes.exclude(deployment__in=[spec.deployment for spec in routes]).delete()
    for spec in routes:
        Route.objects.update_or_create(
            alias=alias, deployment=spec.deployment, defaults={"priority": spec.priority, "weight": spec.weight}
        )
    after = catalog_row_state(alias)
    if audited_by_caller:
        transaction.on_commit(catalog_invalidate)
    elif before != after:
        _record(instance=alias, verb="routes_set", actor=actor, before=before, after=after)
    return alias


# ---- lifecycle ----


@transaction.atomic
def deployment_deprecate(
    *, deployment: Deployment, actor: Any, on: dt.date | None = None, replacement: Deployment | None = None
) -> Deployment:
    """Marks a deployment deprecated (today, or from `on`): it still serves, with a warning, and its
    callers are pointed at `replacement`."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    if deployment.lifecycle == Deployment.Lifecycle.RETIRED:
        raise ValidationError("A retired deployment cannot be deprecated.")
    before = catalog_row_state(deployment)
    today = timezone.localdate()
    deployment.deprecated_on = on or today
    if deployment.deprecated_on <= today:
        deployment.lifecycle = Deployment.Lifecycle.DEPRECATED
    if replacement is not None:
        deployment.replacement = replacement
    deployment.full_clean()
    deployment.save()
    _record(instance=deployment, verb="deprecated", actor=actor, before=before, after=catalog_row_state(deployment))
    return deployment


@transaction.atomic
def deployment_retire(*, deployment: Deployment, actor: Any, on: dt.date | None = None) -> Deployment:
    """Retires a deployment now, or from `on`: from then on it is never called (routes skip it)."""
    deployment = Deployment.objects.select_for_update().get(pk=deployment.pk)
    before = catalog_row_state(deployment)
    today = timezone.localdate()
    deployment.retires_on = on or today
    if deployment.deprecated_on is None or deployment.deprecated_on > deployment.retires_on:
        deployment.deprecated_on = deployment.retires_on
    if deployment.retires_on <= today:
        deployment.lifecycle = Deployment.Lifecycle.RETIRED
    deployment.full_clean()
    deployment.save()
    _record(instance=deployment, verb="retired", actor=actor, before=before, after=catalog_row_state(deployment))
    return deployment


@transaction.atomic
def alias_retire(*, alias: Alias, actor: Any) -> Alias:
    """Takes an alias out of service: it stops answering (404 like an unknown model); its rows stay for the ledger."""
    before = catalog_row_state(alias)
    alias.is_active = False
    alias.save(update_fields=["is_active"])
    _record(instance=alias, verb="retired", actor=actor, before=before, after=catalog_row_state(alias))
    return alias


@transaction.atomic
def catalog_entry_delete(*, instance: models.Model, actor: Any, audited_by_caller: bool = False) -> None:
    """Deletes a catalog row nothing uses any more; a row still referenced is refused, naming its users."""
    before = catalog_row_state(instance)
    users = _referenced_by(instance)
    if users:
        raise CatalogEntryInUse(instance, users)
    try:
        instance.delete()
    except ProtectedError as error:
        raise CatalogEntryInUse(instance, sorted(str(obj) for obj in error.protected_objects)) from None
    if audited_by_caller:
        transaction.on_commit(catalog_invalidate)
        return
    audit_record(
        actor=audit_actor(actor),
        action=f"catalog.{KIND_NAMES[type(instance)]}.deleted",
        object_type=instance._meta.label_lower,
        object_id=str(before.get("name") if before else ""),
        before=before,
    )
    transaction.on_commit(catalog_invalidate)


def _referenced_by(instance: models.Model) -> list[str]:
    """What still names `instance` (use cases, approvals, other deployments), whatever app it is in:
    the catalog knows nothing of tenants, so it asks the relations Django knows about. An alias's
    own routes do not count; they go with it."""
    users = []
    for relation in instance._meta.related_objects:
        if relation.related_model is Route and isinstance(instance, Alias):
            continue
        rows = relation.related_model._default_manager.filter(**{relation.field.name: instance})[:5]
        users.extend(f"{relation.related_model._meta.verbose_name} {row}" for row in rows)
    return sorted(users)


# ---- create-or-update by name (seed_demo, tests, scripts) ----


@transaction.atomic
def provider_account_upsert(
    *,
    name: str,
    provider: str,
    region: str = "",
    endpoint: str = "",
    credentials_ref: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    timeout_seconds: float = 60.0,
    actor: Any = None,
) -> ProviderAccount:
    account = ProviderAccount.objects.filter(name=name).first() or ProviderAccount(name=name)
    account.provider, account.region, account.endpoint = provider, region, endpoint
    account.credentials_ref, account.options, account.timeout_seconds = (
        credentials_ref or {},
        options or {},
        timeout_seconds,
    )
    return provider_account_save(account=account, actor=actor)


@transaction.atomic
def model_upsert(*, name: str, actor: Any = None, **capabilities: Any) -> CatalogModel:
    model = CatalogModel.objects.filter(name=name).first() or CatalogModel(name=name)
    for key, value in capabilities.items():
        setattr(model, key, value)
    return catalog_model_save(model=model, actor=actor)


@transaction.atomic
def deployment_upsert(
    *,
    name: str,
    account: ProviderAccount,
    model: CatalogModel,
    provider_model_id: str,
    input_price_per_million: Decimal = Decimal("0"),
    output_price_per_million: Decimal = Decimal("0"),
    lifecycle: str = Deployment.Lifecycle.GA,
    options: dict[str, Any] | None = None,
    actor: Any = None,
) -> Deployment:
    deployment = Deployment.objects.filter(name=name).first() or Deployment(name=name)
    deployment.account, deployment.model, deployment.provider_model_id = account, model, provider_model_id
    deployment.input_price_per_million = Decimal(str(input_price_per_million))
    deployment.output_price_per_million = Decimal(str(output_price_per_million))
    deployment.lifecycle, deployment.options = lifecycle, options or {}
    return deployment_save(deployment=deployment, actor=actor)


@transaction.atomic
def alias_upsert(
    *,
    name: str,
    deployments: list[Deployment],
    description: str = "",
    available_in_sandbox: bool = True,
    actor: Any = None,
) -> Alias:
    """Creates or updates alias `name`, routed to `deployments` in the given priority order."""
    alias = Alias.objects.filter(name=name).first() or Alias(name=name)
    alias.description, alias.available_in_sandbox, alias.is_active = description, available_in_sandbox, True
    alias = alias_save(alias=alias, actor=actor)
    routes = [RouteSpec(deployment=d, priority=priority) for priority, d in enumerate(deployments, start=1)]
    return alias_routes_set(alias=alias, routes=routes, actor=actor)
