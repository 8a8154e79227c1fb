"""Bulk inserts for the ledger's hot tables: PostgreSQL's COPY through psycopg 3, a multi-row INSERT
elsewhere (the embedded SQLite default).

COPY moves a batch in one round trip without building SQL text or model instances, which is what
lets one flusher write thousands of usage records and audit events a second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Inserts `rows` (values in `columns` order) into `table` in the current transaction; how many.

    JSON columns take their value already serialized (a `str`), so what is stored is exactly the
    text the caller hashed."""
    rows = list(rows)
    if not rows:
        return 0
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The raw psycopg cursor: its errors become Django's (DataError, IntegrityError) here too.
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
            # SQLite allows 32,766 parameters per statement: stay well under it.
            per_statement = max(1, 900 // len(columns))
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                cursor.execute(
                    f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES "  # noqa: S608 - names are ours
                    + ", ".join([placeholders] * len(chunk)),
                    [_adapt(value) for row in chunk for value in row],
                )
    return len(rows)


def _adapt(value: Any) -> Any:
    """What the ORM would store: SQLite keeps datetimes as naive UTC text."""
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value
