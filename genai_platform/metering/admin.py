"""The usage ledger in the portal: read-only, plus a Spend page (chart, table, forecast, CSV links);
and the platform team's budgets and rate limits. Permissions are `access.portal.PortalAdmin`'s."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse

from genai_platform.access.policy import READ
from genai_platform.access.portal import ADD, CHANGE, VIEW, PortalAdmin
from genai_platform.formatting import human_column, limit, listing, money, price_per_million
from lob_tenants.models import ApiKey, Lob

from . import reports
from .models import Budget, RateLimit, UsageRecord
from .services import budget_set, rate_limit_set


@admin.register(UsageRecord)
class UsageRecordAdmin(PortalAdmin):
    """The ledger is written by the metering pipeline only: it can be read and filtered, never edited.

    The platform team reads every LOB's usage (`usage` in `central`); a LOB's members read their
    own LOB's. Which key made a call is LOB data, so the key is not shown."""

    access_object = "usage"
    central_object = "usage"
    lob_path = "lob"
    portal_actions = frozenset({VIEW})
    list_display = [
        "occurred_at",
        "request_id",
        "lob",
        "use_case",
        "alias",
        "deployment",
        "provider",
        "status",
        "input_tokens",
        "output_tokens",
        "cost_shown",
        "latency_ms",
    ]
    list_filter = ["status", "provider", "lob"]
    date_hierarchy = "occurred_at"
    search_fields = ["request_id", "end_user"]
    list_select_related = ["lob", "use_case__lob"]
    exclude = ["api_key"]
    # Counting every row of a large ledger on each page is slow and tells nobody anything.
    show_full_result_count = False
    cost_shown = human_column("cost", money)
    input_price = human_column("input_price_per_million", price_per_million, "input price")
    output_price = human_column("output_price_per_million", price_per_million, "output price")
    read_as = {
        "cost": "cost_shown",
        "input_price_per_million": "input_price",
        "output_price_per_million": "output_price",
    }

    def get_urls(self):
        spend = path("spend/", self.admin_site.admin_view(self.spend_view), name="metering_usagerecord_spend")
        return [spend, *super().get_urls()]

    def spend_view(self, request: HttpRequest) -> TemplateResponse:
        """Spend for one month and optionally one LOB: by day (chart), by LOB and use case, forecast.

        Whoever may view the ledger sees the spend of the LOBs whose rows they may see: every LOB
        for the platform team, their own for a LOB's members (as `apis.spend_report_lobs`)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        visible_ids = self.portal_lob_ids(request, READ)
        visible = Lob.objects.all() if visible_ids is None else Lob.objects.filter(pk__in=visible_ids)
        today = reports.metering_today()
        form = SpendFilterForm(request.GET or None, initial={"month": today.strftime("%Y-%m")})
        form.fields["lob"].queryset = visible
        month, lob = today.replace(day=1), None
        if form.is_bound and form.is_valid():
            month, lob = form.cleaned_data["month"], form.cleaned_data["lob"]
        month_end = _last_day(month)
        lobs = Lob.objects.filter(pk=lob.pk) if lob else (None if visible_ids is None else visible)

        by_day = reports.spend_over_time(lobs=lobs, start=month, end=month_end, period="day")
        by_use_case = reports.spend_breakdown(
            lobs=lobs, start=month, end=month_end, group_by=["lob", "use_case"], period="month"
        )
        total = reports.spend_total(by_use_case)
        for row in by_use_case:
            row["share"] = (row["cost"] * 100 / total) if total else Decimal(0)
        forecast = None
        if month <= today:
            forecast = reports.month_end_forecast_detail(lobs=lobs, today=min(today, month_end))

        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Spend {month:%B %Y}" + (f" — {lob.name}" if lob else ""),
            "form": form,
            "month": month,
            "lob": lob,
            "chart": bar_chart(by_day),
            "by_use_case": by_use_case,
            "total": total,
            "requests": sum(row["requests"] for row in by_use_case),
            "forecast": forecast,
            "previous_month": _month_query(_last_day(month - dt.timedelta(days=1)).replace(day=1), lob),
            "next_month": _month_query(month_end + dt.timedelta(days=1), lob),
            "csv_links": _csv_links(start=month, end=month_end, lob=lob),
        }
        return TemplateResponse(request, "admin/metering/usagerecord/spend.html", context)


class BudgetForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Budget
        fields = ["lob", "use_case", "monthly_limit_usd", "hard_limit", "thresholds", "notify_emails", "webhook_url"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk is None and (cleaned.get("lob") is None) == (cleaned.get("use_case") is None):
            raise forms.ValidationError("A budget is for one line of business or one use case: choose exactly one.")
        return cleaned


@admin.register(Budget)
class BudgetAdmin(PortalAdmin):
    """Monthly budgets of LOBs and use cases: the platform team's (`budget` in `central`)."""

    access_object = "budget"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    form = BudgetForm
    list_display = ["__str__", "monthly_limit", "hard_limit", "thresholds_shown"]
    list_filter = ["hard_limit"]
    list_select_related = ["lob", "use_case__lob"]
    monthly_limit = human_column("monthly_limit_usd", money, "monthly limit")
    thresholds_shown = human_column("thresholds", listing)
    read_as = {"monthly_limit_usd": "monthly_limit", "thresholds": "thresholds_shown"}

    def get_readonly_fields(self, request: HttpRequest, obj: Budget | None = None) -> list[str]:
        return [] if obj is None else ["lob", "use_case"]

    def portal_save(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> Budget:
        return budget_set(
            lob=obj.lob,
            use_case=obj.use_case if obj.lob is None else None,
            monthly_limit_usd=obj.monthly_limit_usd,
            hard_limit=obj.hard_limit,
            thresholds=obj.thresholds,
            notify_emails=obj.notify_emails,
            webhook_url=obj.webhook_url,
            actor=request.user,
        )


class RateLimitForm(forms.ModelForm):
    key_prefix = forms.CharField(
        max_length=16,
        required=False,
        label="API key prefix",
        help_text="For one key: its public prefix (the LOB tells you; keys are not listed here).",
    )

    class Meta:
        model = RateLimit
        fields = ["lob", "use_case", "requests_per_minute", "tokens_per_minute"]

    def clean_key_prefix(self) -> ApiKey | None:
        prefix = self.cleaned_data["key_prefix"].strip()
        if not prefix:
            return None
        key = ApiKey.objects.filter(prefix=prefix).select_related("use_case__lob").first()
        if key is None:
            raise forms.ValidationError("No key has this prefix.")
        return key

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        named = [cleaned.get(name) for name in ("lob", "use_case", "key_prefix")]
        if self.instance.pk is None and sum(value is not None for value in named) != 1:
            raise forms.ValidationError(
                "A rate limit is for one line of business, one use case or one key: choose exactly one."
            )
        return cleaned


@admin.register(RateLimit)
class RateLimitAdmin(PortalAdmin):
    """Per-minute limits of LOBs, use cases and single keys (`budget` in `central`). A key's limit is
    set by the key's prefix and not listed: which keys a LOB has is its own business."""

    access_object = "budget"
    portal_actions = frozenset({VIEW, ADD, CHANGE})
    form = RateLimitForm
    list_display = ["scope", "requests_shown", "tokens_shown"]
    list_select_related = ["lob", "use_case__lob"]
    requests_shown = human_column("requests_per_minute", limit, "requests per minute")
    tokens_shown = human_column("tokens_per_minute", limit, "tokens per minute")
    read_as = {"requests_per_minute": "requests_shown", "tokens_per_minute": "tokens_shown"}

    def portal_rows(self, request: HttpRequest) -> Any:
        return super().portal_rows(request).filter(api_key__isnull=True)

    @admin.display(description="Scope")
    def scope(self, limit: RateLimit) -> str:
        return f"LOB {limit.lob}" if limit.lob_id else f"use case {limit.use_case}"

    def get_fields(self, request: HttpRequest, obj: RateLimit | None = None) -> list[str]:
        fields = ["requests_per_minute", "tokens_per_minute"]
        return ["lob", "use_case", "key_prefix", *fields] if obj is None else ["scope", *fields]

    def get_readonly_fields(self, request: HttpRequest, obj: RateLimit | None = None) -> list[str]:
        return [] if obj is None else ["scope"]

    def portal_save(self, request: HttpRequest, obj: RateLimit, form: Any, change: bool) -> RateLimit:
        key = form.cleaned_data.get("key_prefix") if not change else None
        return rate_limit_set(
            lob=obj.lob,
            use_case=obj.use_case,
            api_key=key,
            requests_per_minute=obj.requests_per_minute,
            tokens_per_minute=obj.tokens_per_minute,
            actor=request.user,
        )


class SpendFilterForm(forms.Form):
    month = forms.DateField(
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        error_messages={"invalid": "Enter a month as YYYY-MM."},
    )
    lob = forms.ModelChoiceField(
        queryset=Lob.objects.all(),
        to_field_name="slug",
        required=False,
        label="Line of business",
        empty_label="All lines of business",
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label_x: float
    label: str
    title: str


@dataclass(frozen=True)
class GridLine:
    y: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    right: int
    baseline: float
    label_y: float
    bars: list[Bar]
    grid: list[GridLine]


def bar_chart(points: list[dict[str, Any]], *, width: int = 760, height: int = 240) -> BarChart:
    """Geometry for an inline SVG bar chart of cost per period; the template only draws it."""
    left, right, top, bottom = 72, 8, 12, 24
    plot_width, plot_height = width - left - right, height - top - bottom
    scale = _nice_ceiling(max((point["cost"] for point in points), default=Decimal(0)))
    slot = plot_width / max(len(points), 1)
    bars = []
    for index, point in enumerate(points):
        bar_height = float(point["cost"] / scale) * plot_height
        x = left + index * slot
        bars.append(
            Bar(
                x=round(x + slot * 0.15, 2),
                y=round(top + plot_height - bar_height, 2),
                width=round(slot * 0.7, 2),
                height=round(bar_height, 2),
                label_x=round(x + slot / 2, 2),
                label=str(point["period"].day),
                title=f"{point['period']:%a %d %b}: {money(point['cost'])}, {point['requests']} requests",
            )
        )
    grid = [
        GridLine(
            y=round(top + plot_height * (1 - step / 4), 2), label=f"${format((scale * step / 4).normalize(), 'f')}"
        )
        for step in range(5)
    ]
    return BarChart(
        width=width,
        height=height,
        left=left,
        right=width - right,
        baseline=top + plot_height,
        label_y=height - 8,
        bars=bars,
        grid=grid,
    )


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 4, 5 or 10 times a power of ten that is at least `value` (1 for nothing)."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(10) ** value.adjusted()
    for step in ("1", "2", "4", "5", "10"):  # each splits into four round gridlines
        if Decimal(step) * power >= value:
            return (Decimal(step) * power).normalize()
    raise AssertionError("unreachable: 10 * 10**adjusted() always exceeds the value")


def _last_day(month: dt.date) -> dt.date:
    return (month.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def _month_query(month: dt.date, lob: Lob | None) -> str:
    return "?" + urlencode({"month": f"{month:%Y-%m}", **({"lob": lob.slug} if lob else {})})


def _csv_links(*, start: dt.date, end: dt.date, lob: Lob | None) -> list[tuple[str, str]]:
    """Downloads from the chargeback API for the month shown; none until its URLs are mounted."""
    try:
        url = reverse("metering:chargeback")
    except NoReverseMatch:
        return []
    views = [
        ("By LOB and use case", "lob,use_case", "month"),
        ("By LOB, use case and day", "lob,use_case", "day"),
        ("By LOB, provider and deployment", "lob,provider,deployment", "month"),
        ("By alias and day", "alias", "day"),
    ]
    links = []
    for label, group_by, period in views:
        query = {"start": start.isoformat(), "end": end.isoformat(), "group_by": group_by, "period": period}
        if lob:
            query["lob"] = lob.slug
        links.append((label, f"{url}?{urlencode({**query, 'format': 'csv'}, safe=',')}"))
    return links
