"""Reads of the catalog for the hot path, as frozen snapshots cached with explicit invalidation."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from genai_platform import hotcache

from .models import Alias, Deployment


@dataclass(frozen=True)
class DeploymentTarget:
    """Everything a worker needs to call one deployment; holds a credentials reference, never a secret."""

    deployment: str
    provider: str
    provider_model_id: str
    region: str
    endpoint: str
    credentials_ref: dict[str, str]
    options: dict[str, Any]
    timeout_seconds: float
    input_price_per_million: Decimal
    output_price_per_million: Decimal
    lifecycle: str
    replacement: str
    context_window: int
    max_output_tokens: int
    supports_chat: bool
    supports_embeddings: bool
    supports_streaming: bool
    priority: int = 1
    weight: int = 1


@dataclass(frozen=True)
class AliasRoutes:
    alias: str
    strategy: str
    available_in_sandbox: bool
    targets: tuple[DeploymentTarget, ...] = field(default_factory=tuple)


def catalog_invalidate() -> None:
    """Makes every process re-read the catalog within GATEWAY_LOCAL_CACHE_SECONDS."""
    hotcache.generation_bump("catalog")


def deployment_target(deployment: Deployment, *, priority: int = 1, weight: int = 1) -> DeploymentTarget:
    account = deployment.account
    return DeploymentTarget(
        deployment=deployment.name,
        provider=account.provider,
        provider_model_id=deployment.provider_model_id,
        region=account.region,
        endpoint=account.endpoint,
        credentials_ref=dict(account.credentials_ref),
        options={**account.options, **deployment.options},
        timeout_seconds=account.timeout_seconds,
        input_price_per_million=deployment.input_price_per_million,
        output_price_per_million=deployment.output_price_per_million,
        lifecycle=deployment.lifecycle_on(timezone.localdate()),
        replacement=deployment.replacement.name if deployment.replacement_id else "",
        context_window=deployment.model.context_window,
        max_output_tokens=deployment.model.max_output_tokens,
        supports_chat=deployment.model.supports_chat,
        supports_embeddings=deployment.model.supports_embeddings,
        supports_streaming=deployment.model.supports_streaming,
        priority=priority,
        weight=weight,
    )


def alias_routes(name: str) -> AliasRoutes | None:
    """The active alias `name` with its routes in priority order, or None when there is no such alias."""
    # An unknown alias is cached too (as None), so a client hammering a typo does not hammer the database.
    return hotcache.lookup(f"catalog:alias:{hotcache.generation('catalog')}:{name}", lambda: _load_alias_routes(name))


def _load_alias_routes(name: str) -> AliasRoutes | None:
    alias = Alias.objects.filter(name=name, is_active=True).first()
    if alias is None:
        return None
    routes = alias.routes.select_related(
        "deployment__account", "deployment__model", "deployment__replacement"
    ).order_by("priority", "id")
    return AliasRoutes(
        alias=alias.name,
        strategy=alias.strategy,
        available_in_sandbox=alias.available_in_sandbox,
        targets=tuple(deployment_target(r.deployment, priority=r.priority, weight=r.weight) for r in routes),
    )


def alias_names(*, names: frozenset[str] | None = None, sandbox_only: bool = False) -> list[tuple[str, int]]:
    """Active aliases (name, created timestamp), optionally limited to `names` and to sandbox-enabled ones."""
    query = Alias.objects.filter(is_active=True)
    if names is not None:
        query = query.filter(name__in=names)
    if sandbox_only:
        query = query.filter(available_in_sandbox=True)
    return [(a.name, int(a.created_at.timestamp())) for a in query.order_by("name")]
