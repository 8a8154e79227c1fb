"""Reads for metering: the limits that apply to a caller (cached), and spend from the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, Sum

from genai_platform import hotcache

from .limits import BudgetScope, LimitPolicy, RateScope, to_nanos
from .models import Budget, RateLimit, UsageDailyRollup


def limits_invalidate() -> None:
    """Makes every process re-read rate limits and budgets within GATEWAY_LOCAL_CACHE_SECONDS."""
    hotcache.generation_bump("limits")


def limit_policy(*, key_id: int | None, use_case_id: int, lob_id: int) -> LimitPolicy:
    """The rate limits and budgets of a key, its use case and its LOB, cached with explicit invalidation."""
    return hotcache.lookup(
        f"metering:policy:{hotcache.generation('limits')}:{key_id}:{use_case_id}:{lob_id}",
        lambda: _load_policy(key_id=key_id, use_case_id=use_case_id, lob_id=lob_id),
    )


def _load_policy(*, key_id: int | None, use_case_id: int, lob_id: int) -> LimitPolicy:
    rates = []
    # Calls the platform makes for a use case (ingestion embeddings) have no key: only its scopes apply.
    scopes = Q(use_case_id=use_case_id) | Q(lob_id=lob_id)
    if key_id is not None:
        scopes |= Q(api_key_id=key_id)
    for limit in RateLimit.objects.filter(scopes):
        name, scope_id = (
            ("key", key_id) if limit.api_key_id else ("use_case", use_case_id) if limit.use_case_id else ("lob", lob_id)
        )
        rates.append(RateScope(name, scope_id, limit.requests_per_minute, limit.tokens_per_minute))
    budgets = [
        BudgetScope(
            budget_id=budget.pk,
            name="use_case" if budget.use_case_id else "lob",
            id=budget.use_case_id or budget.lob_id,
            limit_nanos=to_nanos(budget.monthly_limit_usd),
            hard=budget.hard_limit,
            thresholds=tuple(sorted(int(t) for t in budget.thresholds)),
        )
        for budget in Budget.objects.filter(Q(use_case_id=use_case_id) | Q(lob_id=lob_id))
    ]
    order = {"key": 0, "use_case": 1, "lob": 2}
    return LimitPolicy(
        rates=tuple(sorted(rates, key=lambda r: order[r.name])),
        budgets=tuple(sorted(budgets, key=lambda b: order[b.name])),
    )


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(settings.METERING_TIMEZONE)
    year, number = (int(part) for part in month.split("-"))
    start = dt.datetime(year, number, 1, tzinfo=zone)
    end = dt.datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    return start, end


def spend_in_month(*, scope: str, scope_id: int, month: str) -> Decimal:
    """What the ledger says a LOB or use case spent in `month` (from the daily rollups)."""
    start, end = month_bounds(month)
    rollups = UsageDailyRollup.objects.filter(day__gte=start.date(), day__lt=end.date())
    rollups = rollups.filter(use_case_id=scope_id) if scope == "use_case" else rollups.filter(lob_id=scope_id)
    return rollups.aggregate(total=Sum("cost"))["total"] or Decimal("0")


def ledger_warnings() -> list[str]:
    """What /readyz reports as degraded: a usage backlog over METERING_BACKLOG_LIMIT (flushers too few
    or stopped; Redis memory grows with it) or a buffer that cannot be read."""
    from .ledger import usage_backlog

    try:
        backlog = usage_backlog()
    except Exception as exc:
        return [f"usage buffer: {exc.__class__.__name__}"]
    if backlog > settings.METERING_BACKLOG_LIMIT:
        return [f"usage backlog: {backlog} records waiting (limit {settings.METERING_BACKLOG_LIMIT})"]
    return []
