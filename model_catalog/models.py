"""The model catalog, owned by the central platform team.

An application names a public `Alias`; its `Route`s point at `Deployment`s, each a provider model
id served through one `ProviderAccount`. Prices live on the deployment, so cost is always the
price of the moment the call was made.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from genai_platform.providers.registry import PROVIDER_CHOICES

CREDENTIAL_SCHEMES = ("env:", "file:")


def validate_credentials_reference(value: object) -> None:
    """A reference names where a secret lives; it must never be the secret itself."""
    if not isinstance(value, dict):
        raise ValidationError("credentials reference must be an object of field -> 'env:NAME' or 'file:PATH'")
    for field_name, where in value.items():
        if not isinstance(where, str) or not where.startswith(CREDENTIAL_SCHEMES) or len(where) <= 5:
            raise ValidationError(
                f"credential {field_name!r} must reference an environment variable (env:NAME) or a mounted "
                "file (file:PATH); secrets are never stored in the catalog"
            )


class ProviderAccount(models.Model):
    """One account (subscription, project, tenancy) at one provider, in one region."""

    name = models.SlugField(max_length=64, unique=True)
    provider = models.CharField(max_length=32, choices=PROVIDER_CHOICES)
    region = models.CharField(max_length=64, blank=True)
    endpoint = models.CharField(max_length=255, blank=True, help_text="Overrides the provider's default endpoint.")
    credentials_ref = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_credentials_reference],
        help_text='Where workers find the secrets, e.g. {"api_key": "env:AZURE_OPENAI_API_KEY"}; '
        "empty means the cloud's ambient identity.",
    )
    options = models.JSONField(default=dict, blank=True, help_text="Non-secret provider settings.")
    timeout_seconds = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()}{', ' + self.region if self.region else ''})"


class CatalogModel(models.Model):
    """A model as the catalog describes it, whoever serves it."""

    name = models.SlugField(max_length=100, unique=True)
    supports_chat = models.BooleanField(default=True)
    supports_embeddings = models.BooleanField(default=False)
    supports_tools = models.BooleanField(default=False)
    supports_vision = models.BooleanField(default=False)
    supports_streaming = models.BooleanField(default=True)
    context_window = models.PositiveIntegerField(default=8192)
    max_output_tokens = models.PositiveIntegerField(default=4096)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """A model served by one provider account under the provider's own model id."""

    class Lifecycle(models.TextChoices):
        PREVIEW = "preview"
        GA = "ga", "GA"
        DEPRECATED = "deprecated"
        RETIRED = "retired"

    name = models.SlugField(max_length=100, unique=True)
    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="deployments")
    model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="deployments")
    provider_model_id = models.CharField(max_length=512)
    input_price_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    output_price_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    lifecycle = models.CharField(max_length=16, choices=Lifecycle.choices, default=Lifecycle.GA)
    deprecated_on = models.DateField(null=True, blank=True, help_text="From this day it serves with a warning.")
    retires_on = models.DateField(null=True, blank=True, help_text="From this day it is never called.")
    replacement = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replaces",
        help_text="Where its traffic should move.",
    )
    options = models.JSONField(default=dict, blank=True, help_text="Per-deployment provider settings.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.deprecated_on and self.retires_on and self.retires_on < self.deprecated_on:
            raise ValidationError({"retires_on": "A deployment cannot retire before it is deprecated."})
        if self.replacement_id is not None and self.replacement_id == self.pk:
            raise ValidationError({"replacement": "A deployment cannot replace itself."})

    def lifecycle_on(self, day: dt.date) -> str:
        """The lifecycle in force on `day`: the dates move a deployment along without anyone editing it."""
        if self.lifecycle == self.Lifecycle.RETIRED or (self.retires_on and day >= self.retires_on):
            return self.Lifecycle.RETIRED
        if self.lifecycle == self.Lifecycle.DEPRECATED or (self.deprecated_on and day >= self.deprecated_on):
            return self.Lifecycle.DEPRECATED
        return self.lifecycle


class Alias(models.Model):
    """The public model name applications send as `model`."""

    class Strategy(models.TextChoices):
        PRIORITY = "priority", "Priority failover"
        WEIGHTED = "weighted", "Weighted split"
        LOWEST_COST = "lowest_cost", "Lowest cost"
        LOWEST_LATENCY = "lowest_latency", "Lowest latency"

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=255, blank=True)
    strategy = models.CharField(max_length=32, choices=Strategy.choices, default=Strategy.PRIORITY)
    is_active = models.BooleanField(default=True)
    available_in_sandbox = models.BooleanField(
        default=True, help_text="Sandbox keys (before approval) may call this alias."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "aliases"

    def __str__(self) -> str:
        return self.name


class Route(models.Model):
    alias = models.ForeignKey(Alias, on_delete=models.CASCADE, related_name="routes")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="routes")
    priority = models.PositiveSmallIntegerField(default=1, help_text="Lower is tried first (priority strategy).")
    weight = models.PositiveSmallIntegerField(default=1, help_text="Share of traffic (weighted strategy).")

    class Meta:
        ordering = ["alias", "priority", "id"]
        constraints = [models.UniqueConstraint(fields=["alias", "deployment"], name="route_unique_deployment")]

    def __str__(self) -> str:
        return f"{self.alias} -> {self.deployment} (priority {self.priority})"
