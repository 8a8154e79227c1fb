"""Writes to the catalog. Each one invalidates the cached snapshots the gateway routes from."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from .models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from .selectors import catalog_invalidate


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
) -> ProviderAccount:
    account, _ = ProviderAccount.objects.update_or_create(
        name=name,
        defaults={
            "provider": provider,
            "region": region,
            "endpoint": endpoint,
            "credentials_ref": credentials_ref or {},
            "options": options or {},
            "timeout_seconds": timeout_seconds,
        },
    )
    account.full_clean()
    transaction.on_commit(catalog_invalidate)
    return account


@transaction.atomic
def model_upsert(*, name: str, **capabilities: Any) -> CatalogModel:
    model, _ = CatalogModel.objects.update_or_create(name=name, defaults=capabilities)
    transaction.on_commit(catalog_invalidate)
    return model


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
) -> Deployment:
    deployment, _ = Deployment.objects.update_or_create(
        name=name,
        defaults={
            "account": account,
            "model": model,
            "provider_model_id": provider_model_id,
            "input_price_per_million": input_price_per_million,
            "output_price_per_million": output_price_per_million,
            "lifecycle": lifecycle,
            "options": options or {},
        },
    )
    transaction.on_commit(catalog_invalidate)
    return deployment


@transaction.atomic
def alias_upsert(
    *,
    name: str,
    deployments: list[Deployment],
    description: str = "",
    available_in_sandbox: bool = True,
) -> Alias:
    """Creates or updates alias `name`, routed to `deployments` in the given priority order."""
    alias, _ = Alias.objects.update_or_create(
        name=name,
        defaults={"description": description, "available_in_sandbox": available_in_sandbox, "is_active": True},
    )
    alias.routes.exclude(deployment__in=deployments).delete()
    for priority, deployment in enumerate(deployments, start=1):
        Route.objects.update_or_create(alias=alias, deployment=deployment, defaults={"priority": priority})
    transaction.on_commit(catalog_invalidate)
    return alias
