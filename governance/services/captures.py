"""Captured exchanges written by the ledger: the rows it builds and the insert it runs in its batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection

from governance.models import CapturedExchange

_COLUMNS = ("request_id", "lob_id", "use_case_id", "level", "prompt", "output", "captured_at")
#: Rows per INSERT statement: PostgreSQL takes at most 65,535 parameters, SQLite 32,766.
_ROWS_PER_STATEMENT = 500


def captured_exchange_row(
    *, request_id: str, lob_id: int, use_case_id: int, capture: dict[str, Any], captured_at: dt.datetime
) -> tuple[Any, ...] | None:
    """The row of a finalized capture (`capture_finalize`), or None when its level keeps no text."""
    if capture["level"] not in ("redacted", "full") or "prompt" not in capture:
        return None
    level, prompt, output = capture["level"], capture["prompt"], capture["output"]
    return (str(request_id), int(lob_id), int(use_case_id), level, prompt, output, captured_at)


def captured_exchanges_insert(rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """Inserts `rows` in the caller's transaction, skipping request ids already captured; returns the
    request ids inserted. A capture replayed after a crash, or arriving twice, is a no-op."""
    table = connection.ops.quote_name(CapturedExchange._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    placeholders = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            values = [_adapt(value) for row in chunk for value in row]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(chunk))} "  # noqa: S608 - names are ours
                "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
                values,
            )
            inserted.update(row[0] for row in cursor.fetchall())
    return inserted


def _adapt(value: Any) -> Any:
    """What the ORM would store (SQLite keeps datetimes as naive UTC text)."""
    if isinstance(value, dt.datetime) and connection.vendor != "postgresql":
        return connection.ops.adapt_datetimefield_value(value)
    return value
