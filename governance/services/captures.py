"""Captured exchanges written by the ledger: the rows it builds and the insert it runs in its batch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import connection

from genai_platform.dbcopy import bulk_insert
from governance.models import CapturedExchange

_COLUMNS = ("request_id", "lob_id", "use_case_id", "level", "prompt", "output", "captured_at")
#: Rows per INSERT statement on SQLite (at most 32,766 parameters).
_ROWS_PER_STATEMENT = 500
_STAGE_TABLE = "ledger_capture_stage"
#: This connection's staging table (PostgreSQL): emptied at every commit, gone with the session.
_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE_TABLE} (request_id varchar(64), lob_id bigint, use_case_id bigint, "
    "level varchar(16), prompt text, output text, captured_at timestamptz) ON COMMIT DELETE ROWS"
)


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
    if not rows:
        return set()
    table = connection.ops.quote_name(CapturedExchange._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY into a staging table, then one INSERT ... ON CONFLICT: a multi-row INSERT with
            # thousands of parameters cost the flusher more in query parsing than the write itself.
            cursor.execute(_STAGE)
            bulk_insert(_STAGE_TABLE, _COLUMNS, rows)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGE_TABLE} "  # noqa: S608 - names are ours
                "ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
            )
            return {row[0] for row in cursor.fetchall()}
        inserted: set[str] = set()
        placeholders = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([placeholders] * len(chunk))} "  # noqa: S608 - names are ours
                "ON CONFLICT (request_id) DO NOTHING RETURNING request_id",
                [_adapt(value) for row in chunk for value in row],
            )
            inserted.update(row[0] for row in cursor.fetchall())
        return inserted


def _adapt(value: Any) -> Any:
    """What the ORM would store (SQLite keeps datetimes as naive UTC text)."""
    if isinstance(value, dt.datetime) and connection.vendor != "postgresql":
        return connection.ops.adapt_datetimefield_value(value)
    return value
