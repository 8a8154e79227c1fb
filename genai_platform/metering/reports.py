"""Reads for chargeback and spend reports: the ledger grouped by tenant, model and period.

Every date here is a calendar date in `METERING_TIMEZONE`, the zone budgets are counted in, so a
report for March and the March budget agree on which calls belong to March. Ranges are inclusive
of both `start` and `end`.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import DateField, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from lob_tenants.models import Lob

from .models import UsageDailyRollup

GROUP_BY_CHOICES = ("lob", "use_case", "alias", "deployment", "provider")
PERIODS = ("day", "month")
#: The longest range one report may cover (a leap year).
MAX_RANGE_DAYS = 366
#: The ledger's own precision: sums are exact at this scale.
COST_PLACES = Decimal("0.0000000001")
CENT = Decimal("0.01")
#: How many of the latest days the month-end forecast takes its daily run-rate from.
FORECAST_WINDOW_DAYS = 7

# The ledger columns each dimension groups by, and the report columns they become. A use case slug
# is only unique within its LOB, so the report names it `<lob slug>/<use case slug>`.
_DIMENSION_LOOKUPS = {
    "lob": ("lob__slug", "lob__name", "lob__cost_center"),
    "use_case": ("use_case__lob__slug", "use_case__slug", "use_case__name"),
    "alias": ("alias",),
    "deployment": ("deployment",),
    "provider": ("provider",),
}
_DIMENSION_COLUMNS = {
    "lob": ("lob", "lob_name", "cost_center"),
    "use_case": ("use_case", "use_case_name"),
    "alias": ("alias",),
    "deployment": ("deployment",),
    "provider": ("provider",),
}
_MEASURE_COLUMNS = ("requests", "input_tokens", "output_tokens", "cost")
_TRUNCATIONS = ("day", "month")


def metering_zone() -> ZoneInfo:
    return ZoneInfo(settings.METERING_TIMEZONE)


def metering_today() -> dt.date:
    """Today's date where budgets and reports are counted."""
    return timezone.localdate(timezone=metering_zone())


def report_columns(group_by: list[str]) -> list[str]:
    """The columns of a `spend_breakdown` row, in the order a CSV lists them."""
    dimensions = [column for name in group_by for column in _DIMENSION_COLUMNS[name]]
    return ["period", *dimensions, *_MEASURE_COLUMNS]


def spend_breakdown(
    *, lobs: QuerySet[Lob] | None, start: dt.date, end: dt.date, group_by: list[str], period: str
) -> list[dict[str, Any]]:
    """Requests, tokens and cost per period and group, ordered by period then group.

    `lobs=None` means every LOB. `period` is the first day of the day or month the row covers (a
    month cut by the range only counts the days inside it). `requests` counts every recorded call
    whatever its outcome; failed and refused calls cost nothing. `cost` is the exact sum at the
    ledger's scale (10 decimal places).
    """
    _check_query(group_by=group_by, period=period)
    lookups = [lookup for name in group_by for lookup in _DIMENSION_LOOKUPS[name]]
    # Rollup days are already calendar days in the metering zone: a month is a plain date truncation.
    truncate = F("day") if period == "day" else TruncMonth("day", output_field=DateField())
    grouped = (
        _rollups(lobs=lobs, start=start, end=end)
        .annotate(period=truncate)
        .values("period", *lookups)
        .annotate(
            requests=Sum("requests"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
        )
        .order_by("period", *lookups)
    )
    return [_shape_row(values, group_by) for values in grouped]


def spend_over_time(*, lobs: QuerySet[Lob] | None, start: dt.date, end: dt.date, period: str) -> list[dict[str, Any]]:
    """Requests and cost for every day or month of the range, zero where nothing was spent (for a chart)."""
    found = {row["period"]: row for row in spend_breakdown(lobs=lobs, start=start, end=end, group_by=[], period=period)}
    empty = {"requests": 0, "input_tokens": 0, "output_tokens": 0, "cost": Decimal(0).quantize(COST_PLACES)}
    return [found.get(bucket, {"period": bucket, **empty}) for bucket in _buckets(start=start, end=end, period=period)]


def spend_total(rows: list[dict[str, Any]]) -> Decimal:
    return sum((row["cost"] for row in rows), Decimal(0)).quantize(COST_PLACES)


@dataclass(frozen=True)
class MonthForecast:
    """A month-end spend forecast and the figures it was made from (see `month_end_forecast`)."""

    month_start: dt.date
    today: dt.date
    spent_to_date: Decimal
    window_days: int
    window_spend: Decimal
    daily_run_rate: Decimal
    days_remaining: int
    forecast: Decimal


def month_end_forecast_detail(*, lobs: QuerySet[Lob] | None, today: dt.date) -> MonthForecast:
    """The forecast for the month containing `today`, with the figures behind it.

    Method (a linear run-rate):

    - spent to date: the ledger from the 1st through the end of `today`;
    - daily run-rate: what was spent over the last 7 days ending with `today` (fewer on the 1st to
      the 6th: the days elapsed, so the window never reaches into the previous month), divided by
      the number of days in that window;
    - forecast = spent to date + run-rate * days remaining after `today`, kept to the ledger's
      precision (a page rounds it when it shows it: a forecast of half a cent reads `< $0.01`, not
      `$0.00`); `month_end_forecast` rounds it half-up to the cent once, at the end.

    `today` counts as an elapsed day even while it is under way, so early in a day the forecast is
    conservative; on the last day of the month it equals what was spent.
    """
    month_start = today.replace(day=1)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    window_days = min(FORECAST_WINDOW_DAYS, today.day)
    window_start = today - dt.timedelta(days=window_days - 1)
    sums = _rollups(lobs=lobs, start=month_start, end=today).aggregate(
        spent=Sum("cost"),
        window=Sum("cost", filter=Q(day__gte=window_start)),
    )
    spent, window_spend = sums["spent"] or Decimal(0), sums["window"] or Decimal(0)
    days_remaining = days_in_month - today.day
    # Multiply before dividing so the only rounding is the final one.
    forecast = spent + window_spend * days_remaining / window_days
    return MonthForecast(
        month_start=month_start,
        today=today,
        spent_to_date=spent.quantize(COST_PLACES),
        window_days=window_days,
        window_spend=window_spend.quantize(COST_PLACES),
        daily_run_rate=(window_spend / window_days).quantize(COST_PLACES, rounding=ROUND_HALF_UP),
        days_remaining=days_remaining,
        forecast=forecast.quantize(COST_PLACES, rounding=ROUND_HALF_UP),
    )


def month_end_forecast(*, lobs: QuerySet[Lob] | None, today: dt.date) -> Decimal:
    """What the month containing `today` will have cost by its end, in USD to the cent.

    Spend so far plus the daily run-rate of the last 7 days (or of the days elapsed, if fewer)
    times the days remaining; see `month_end_forecast_detail`.
    """
    return month_end_forecast_detail(lobs=lobs, today=today).forecast.quantize(CENT, rounding=ROUND_HALF_UP)


def _check_query(*, group_by: list[str], period: str) -> None:
    unknown = [name for name in group_by if name not in _DIMENSION_LOOKUPS]
    if unknown:
        raise ValueError(f"unknown group_by {unknown}; choose from {GROUP_BY_CHOICES}")
    if period not in _TRUNCATIONS:
        raise ValueError(f"unknown period {period!r}; choose from {PERIODS}")


def _rollups(*, lobs: QuerySet[Lob] | None, start: dt.date, end: dt.date) -> QuerySet[UsageDailyRollup]:
    """The daily rollups of the range (kept by the flusher with the ledger), never the raw records."""
    rows = UsageDailyRollup.objects.filter(day__gte=start, day__lte=end)
    return rows if lobs is None else rows.filter(lob__in=lobs)


def _shape_row(values: dict[str, Any], group_by: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"period": values["period"]}
    for name in group_by:
        if name == "use_case":
            row["use_case"] = f"{values['use_case__lob__slug']}/{values['use_case__slug']}"
            row["use_case_name"] = values["use_case__name"]
        else:
            row.update(
                zip(_DIMENSION_COLUMNS[name], (values[lookup] for lookup in _DIMENSION_LOOKUPS[name]), strict=True)
            )
    row["requests"] = values["requests"]
    row["input_tokens"] = values["input_tokens"] or 0
    row["output_tokens"] = values["output_tokens"] or 0
    row["cost"] = (values["cost"] or Decimal(0)).quantize(COST_PLACES)
    return row


def _buckets(*, start: dt.date, end: dt.date, period: str) -> list[dt.date]:
    if period == "day":
        return [start + dt.timedelta(days=offset) for offset in range((end - start).days + 1)]
    months = []
    month = start.replace(day=1)
    while month <= end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months
