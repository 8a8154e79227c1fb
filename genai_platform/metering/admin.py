"""The usage ledger in the admin: read-only, plus a Spend page (chart, table, forecast, CSV links)."""

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

from lob_tenants.models import Lob

from . import reports
from .models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    """The ledger is written by the metering pipeline only: it can be read and filtered, never edited."""

    list_display = [
        "occurred_at", "request_id", "lob", "use_case", "alias", "deployment", "provider", "status",
        "input_tokens", "output_tokens", "cost", "latency_ms",
    ]  # fmt: skip
    list_filter = ["status", "provider", "lob"]
    date_hierarchy = "occurred_at"
    search_fields = ["request_id", "end_user"]
    list_select_related = ["lob", "use_case__lob"]
    # Counting every row of a large ledger on each page is slow and tells nobody anything.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self):
        spend = path("spend/", self.admin_site.admin_view(self.spend_view), name="metering_usagerecord_spend")
        return [spend, *super().get_urls()]

    def spend_view(self, request: HttpRequest) -> TemplateResponse:
        """Spend for one month and optionally one LOB: by day (chart), by LOB and use case, forecast.

        Anyone who may view the ledger here sees every LOB: the admin is the central team's tool
        (the same temporary rule as `apis.spend_report_lobs`).
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = reports.metering_today()
        form = SpendFilterForm(request.GET or None, initial={"month": today.strftime("%Y-%m")})
        month, lob = today.replace(day=1), None
        if form.is_bound and form.is_valid():
            month, lob = form.cleaned_data["month"], form.cleaned_data["lob"]
        month_end = _last_day(month)
        lobs = Lob.objects.filter(pk=lob.pk) if lob else None

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
                title=f"{point['period']:%a %d %b}: ${point['cost']:.4f}, {point['requests']} requests",
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
