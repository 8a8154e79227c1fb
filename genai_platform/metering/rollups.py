"""Daily rollups of the ledger, kept by the flusher in the transaction that adds the records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection

from .models import UsageDailyRollup, UsageRecord

_KEY = ("day", "lob_id", "use_case_id", "alias", "deployment", "provider")
_SUMS = ("requests", "input_tokens", "output_tokens", "cost")


def usage_rollups_add(usage_rows: Sequence[Sequence[Any]]) -> int:
    """Adds ledger rows (in `services.USAGE_COLUMNS` order) to their days' rollups; one upsert
    statement per batch. Keys are sorted so two flushers lock rollup rows in the same order."""
    zone = ZoneInfo(settings.METERING_TIMEZONE)
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for row in usage_rows:
        key = (row[1].astimezone(zone).date(), row[2], row[3], row[7], row[8], row[9])
        total = sums.setdefault(key, [0, 0, 0, Decimal(0)])
        total[0] += 1
        total[1] += row[10]
        total[2] += row[11]
        total[3] += row[15]
    if not sums:
        return 0
    table = connection.ops.quote_name(UsageDailyRollup._meta.db_table)
    columns = ", ".join((*_KEY, *_SUMS))
    placeholders = ", ".join(["(" + ", ".join(["%s"] * (len(_KEY) + len(_SUMS))) + ")"] * len(sums))
    updates = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in _SUMS)
    params: list[Any] = []
    for key in sorted(sums):
        day, *rest = key
        params.extend([connection.ops.adapt_datefield_value(day), *rest, *sums[key][:3]])
        params.append(connection.ops.adapt_decimalfield_value(sums[key][3], 24, 10))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {placeholders} "  # noqa: S608 - names are ours
            f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {updates}",
            params,
        )
    return len(sums)


def usage_rollups_add_records(records: Iterable[UsageRecord]) -> int:
    """`usage_rollups_add` for records already built as models (imports, fixtures, repairs)."""
    return usage_rollups_add(
        [
            (
                r.request_id,
                r.occurred_at,
                r.lob_id,
                r.use_case_id,
                r.api_key_id,
                r.end_user,
                r.endpoint,
                r.alias,
                r.deployment,
                r.provider,
                r.input_tokens,
                r.output_tokens,
                r.tokens_estimated,
                r.input_price_per_million,
                r.output_price_per_million,
                Decimal(r.cost),
                r.latency_ms,
                r.attempts,
                r.stream,
                r.status,
                r.error_code,
            )
            for r in records
        ]
    )


def usage_rollups_rebuild() -> int:
    """Recomputes every rollup from the ledger in the current transaction (a repair, an import, the
    benchmark's synthetic ledger); how many rollup rows. PostgreSQL sums in one statement."""
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    UsageDailyRollup.objects.all().delete()
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(UsageDailyRollup._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join((*_KEY, *_SUMS))}) "  # noqa: S608 - names are ours
                "SELECT (occurred_at AT TIME ZONE %s)::date, lob_id, use_case_id, alias, deployment, provider, "
                "count(*), sum(input_tokens), sum(output_tokens), sum(cost) FROM metering_usagerecord "
                "GROUP BY 1, 2, 3, 4, 5, 6",
                [settings.METERING_TIMEZONE],
            )
            return cursor.rowcount
    grouped = (
        UsageRecord.objects.annotate(day=TruncDate("occurred_at", tzinfo=ZoneInfo(settings.METERING_TIMEZONE)))
        .values("day", "lob_id", "use_case_id", "alias", "deployment", "provider")
        .annotate(
            requests=Count("id"), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost")
        )
        .order_by()
    )
    return len(UsageDailyRollup.objects.bulk_create([UsageDailyRollup(**row) for row in grouped], batch_size=1_000))
