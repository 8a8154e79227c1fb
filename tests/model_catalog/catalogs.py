"""Catalogs and database snapshots for the catalog import/export specifications."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import yaml

from genai_platform.audit.models import AuditEvent
from model_catalog.models import Alias, CatalogModel, Deployment, ProviderAccount, Route
from tests.factories import AliasFactory, CatalogModelFactory, DeploymentFactory, ProviderAccountFactory


def varied_catalog() -> None:
    """A catalog that uses every field: two providers, lifecycle dates, a replacement, weights, options."""
    aws = ProviderAccountFactory(
        name="aws-east",
        provider="bedrock",
        region="us-east-1",
        options={"retries": {"max_attempts": 3, "mode": "standard"}, "guardrail": None},
        timeout_seconds=30.0,
    )
    azure = ProviderAccountFactory(
        name="azure-eu",
        provider="azure_openai",
        region="westeurope",
        endpoint="https://genai-eu.openai.azure.com",
        credentials_ref={"api_key": "env:AZURE_OPENAI_API_KEY"},
        options={"api_version": "2024-10-21"},
    )
    claude = CatalogModelFactory(name="claude-sonnet", supports_vision=True, context_window=200_000)
    gpt = CatalogModelFactory(name="gpt-4o", supports_vision=True, context_window=128_000, max_output_tokens=16_384)
    current = DeploymentFactory(
        name="claude-sonnet-east-v2",
        account=aws,
        model=claude,
        provider_model_id="anthropic.claude-sonnet-4-v1:0",
        input_price_per_million=Decimal("3"),
        output_price_per_million=Decimal("15"),
    )
    DeploymentFactory(
        name="claude-sonnet-east-v1",
        account=aws,
        model=claude,
        provider_model_id="anthropic.claude-3-5-sonnet-v2:0",
        input_price_per_million=Decimal("0.000125"),
        output_price_per_million=Decimal("123456.123456"),
        lifecycle=Deployment.Lifecycle.DEPRECATED,
        deprecated_on=dt.date(2025, 3, 1),
        retires_on=dt.date(2025, 9, 30),
        replacement=current,
    )
    gpt_eu = DeploymentFactory(
        name="gpt-4o-eu",
        account=azure,
        model=gpt,
        provider_model_id="gpt-4o-2024-11-20",
        lifecycle=Deployment.Lifecycle.PREVIEW,
        options={"deployment_name": "gpt4o", "stop": ["\n\n", "END"]},
    )
    AliasFactory(
        name="chat",
        description="General-purpose chat: Claude first, GPT-4o in the EU as fallback.",
        strategy=Alias.Strategy.WEIGHTED,
        deployments=[current, gpt_eu],
    )
    Route.objects.filter(alias__name="chat", deployment=gpt_eu).update(weight=3)
    AliasFactory(name="chat-internal", is_active=False, available_in_sandbox=False, deployments=[gpt_eu])


def catalog_clear() -> None:
    Route.objects.all().delete()
    Alias.objects.all().delete()
    Deployment.objects.all().delete()
    CatalogModel.objects.all().delete()
    ProviderAccount.objects.all().delete()


def database_state() -> dict[str, Any]:
    """Every catalog row and the audit log, to assert that something changed nothing."""
    state: dict[str, Any] = {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in (ProviderAccount, CatalogModel, Deployment, Alias, Route)
    }
    state["audit events"] = AuditEvent.objects.count()
    return state


def edited(document: str, edit) -> str:
    """`document` after `edit(data)` changed its loaded form in place."""
    data = yaml.safe_load(document)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def entry(data: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    return next(item for item in data[section] if item["name"] == name)
