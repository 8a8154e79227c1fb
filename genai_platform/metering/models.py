"""The usage ledger, budgets and rate limits."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from genai_platform.formatting import money
from lob_tenants.models import ApiKey, Lob, UseCase


class UsageRecord(models.Model):
    """One invocation, whatever its outcome, priced at the moment it was made. Written once per
    request id: replaying the buffer after a crash can never count a call twice.

    On PostgreSQL the table is partitioned by month on `occurred_at` (genai_platform/partitioning.py),
    and a unique key must contain the partition key: it is (request_id, occurred_at). A buffered
    record carries its `occurred_at`, so a replay of the same record collides with it; the flusher
    looks request ids up before inserting, across every month, under the chain locks of its batch."""

    class Status(models.TextChoices):
        SUCCESS = "success"
        PROVIDER_ERROR = "provider_error"
        GUARDRAIL_BLOCKED = "guardrail_blocked"
        BUDGET_EXCEEDED = "budget_exceeded"
        RATE_LIMITED = "rate_limited"
        CACHE_HIT = "cache_hit"
        CANCELLED = "cancelled"

    request_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(db_index=True)
    # No single-column indexes on lob and use_case: (lob, occurred_at) and (use_case, occurred_at)
    # below serve every lookup by either, and each index costs the flusher on every record.
    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="+", db_index=False)
    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="+", db_index=False)
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="+")
    end_user = models.CharField(max_length=256, blank=True)
    endpoint = models.CharField(max_length=32)
    alias = models.CharField(max_length=100)
    deployment = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False)
    input_price_per_million = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    output_price_per_million = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    cost = models.DecimalField(max_digits=20, decimal_places=10, default=Decimal("0"))
    latency_ms = models.FloatField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    stream = models.BooleanField(default=False)
    status = models.CharField(max_length=32, choices=Status.choices)
    error_code = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [models.UniqueConstraint(fields=["request_id", "occurred_at"], name="usage_request_once")]
        indexes = [
            models.Index(fields=["lob", "occurred_at"], name="usage_lob_time"),
            models.Index(fields=["use_case", "occurred_at"], name="usage_use_case_time"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.status} {money(self.cost)}"


class Budget(models.Model):
    """A monthly spending limit for a LOB or one use case (calendar month in METERING_TIMEZONE)."""

    lob = models.ForeignKey(Lob, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    use_case = models.ForeignKey(UseCase, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets")
    monthly_limit_usd = models.DecimalField(max_digits=16, decimal_places=6, validators=[MinValueValidator(0)])
    #: Reject calls that would exceed the limit; otherwise only notify.
    hard_limit = models.BooleanField(default=True)
    #: Percentages of the limit at which the owners are told, once each per month.
    thresholds = models.JSONField(default=list, blank=True)
    notify_emails = models.CharField(max_length=500, blank=True, help_text="Comma-separated addresses.")
    webhook_url = models.URLField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(lob__isnull=False) & Q(use_case__isnull=True))
                | (Q(lob__isnull=True) & Q(use_case__isnull=False)),
                name="budget_exactly_one_scope",
            ),
            models.UniqueConstraint(fields=["lob"], condition=Q(lob__isnull=False), name="budget_one_per_lob"),
            models.UniqueConstraint(
                fields=["use_case"], condition=Q(use_case__isnull=False), name="budget_one_per_use_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope_label}: {money(self.monthly_limit_usd)} a month"

    @property
    def scope_label(self) -> str:
        return f"LOB {self.lob}" if self.lob_id else f"use case {self.use_case}"


class BudgetAlert(models.Model):
    """A threshold notification that was sent; unique, so each goes out once per month."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    month = models.CharField(max_length=7)
    threshold = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["budget", "month", "threshold"], name="budget_alert_once")]

    def __str__(self) -> str:
        return f"{self.budget}: {self.threshold}% of {self.month}"


class RateLimit(models.Model):
    """Requests and tokens per minute for one key, one use case or one LOB."""

    lob = models.OneToOneField(Lob, null=True, blank=True, on_delete=models.CASCADE, related_name="rate_limit")
    use_case = models.OneToOneField(UseCase, null=True, blank=True, on_delete=models.CASCADE, related_name="rate_limit")
    api_key = models.OneToOneField(ApiKey, null=True, blank=True, on_delete=models.CASCADE, related_name="rate_limit")
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(lob__isnull=False) & Q(use_case__isnull=True) & Q(api_key__isnull=True))
                | (Q(lob__isnull=True) & Q(use_case__isnull=False) & Q(api_key__isnull=True))
                | (Q(lob__isnull=True) & Q(use_case__isnull=True) & Q(api_key__isnull=False)),
                name="rate_limit_exactly_one_scope",
            )
        ]

    def __str__(self) -> str:
        scope = self.lob or self.use_case or self.api_key
        rpm, tpm = self.requests_per_minute, self.tokens_per_minute
        requests = "no request limit" if rpm is None else f"{rpm:,} requests a minute"
        tokens = "no token limit" if tpm is None else f"{tpm:,} tokens a minute"
        return f"{scope}: {requests}, {tokens}"


class DeadLetterUsage(models.Model):
    """A buffered usage entry the ledger could not store (a value PostgreSQL refuses, a tenant deleted
    meanwhile): set aside so that it never stops the records behind it, counted in
    `genai_ledger_dead_letters` and alerted. `event` is the entry's JSON text exactly as buffered
    (escaped, so even a NUL character can be kept); an operator fixes and replays it or closes it."""

    request_id = models.CharField(max_length=64, db_index=True)
    lob_slug = models.CharField(max_length=64, blank=True)
    event = models.TextField()
    error = models.TextField()
    failed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"dead letter {self.request_id}: {self.error[:60]}"


class UsageDailyRollup(models.Model):
    """The ledger summed per day (in METERING_TIMEZONE), tenant and model, kept by the flusher in the
    same transaction as the records it adds, so it always agrees with the ledger. Chargeback, the
    spend pages, forecasts and budget rebuilds read it instead of scanning millions of records."""

    day = models.DateField()
    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="+")
    use_case = models.ForeignKey(UseCase, on_delete=models.PROTECT, related_name="+")
    alias = models.CharField(max_length=100)
    deployment = models.CharField(max_length=100, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    requests = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "lob", "use_case", "alias", "deployment", "provider"], name="usage_rollup_one_row"
            )
        ]
        indexes = [
            models.Index(fields=["lob", "day"], name="usage_rollup_lob_day"),
            models.Index(fields=["use_case", "day"], name="usage_rollup_use_case_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.use_case_id} {self.alias}: {self.requests} calls, {money(self.cost)}"
