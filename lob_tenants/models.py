"""Lines of business (tenants), their use cases and the API keys applications call with."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from model_catalog.models import Alias


class Lob(models.Model):
    """A line of business: the tenant boundary for data, usage and cost."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    business_owner = models.CharField(max_length=200, blank=True)
    cost_center = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "line of business"
        verbose_name_plural = "lines of business"

    def __str__(self) -> str:
        return self.name


class DataClassification(models.TextChoices):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class UseCase(models.Model):
    """Something a LOB builds with LLMs; production traffic needs the board's approval."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        REJECTED = "rejected"
        EXPIRED = "expired"
        SUSPENDED = "suspended"
        RETIRED = "retired"

    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="use_cases")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.DRAFT)
    data_classification = models.CharField(
        max_length=16, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    aliases = models.ManyToManyField(Alias, blank=True, related_name="use_cases", help_text="Models it may call.")
    response_cache_ttl_seconds = models.PositiveIntegerField(
        default=0, help_text="Answer identical requests from a cache for this long; 0 turns the cache off."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lob", "name"]
        constraints = [models.UniqueConstraint(fields=["lob", "slug"], name="use_case_unique_slug_per_lob")]

    def __str__(self) -> str:
        return f"{self.lob.slug}/{self.slug}"


class ApiKey(models.Model):
    """A credential an application calls the gateway with.

    Only `prefix` (public, to find the row) and a SHA-256 digest of the secret are stored; the
    full key is shown once, when issued.
    """

    class Environment(models.TextChoices):
        SANDBOX = "sandbox"
        PRODUCTION = "production"

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.SANDBOX)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.environment})"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
