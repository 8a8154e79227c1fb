"""Monthly range partitions for the append-mostly tables (the usage ledger, the audit log).

PostgreSQL declarative partitioning: the parent keeps the table name the application uses, each
calendar month (UTC) is one partition named `<table>_pYYYYMM`, and a month that has ended can be
detached, exported and dropped as a whole instead of deleting rows. There is deliberately no
DEFAULT partition: a row for a month with no partition fails with a clear error (the ledger's
flusher sets such a record aside as a dead letter, never losing it), partitions are created ahead
by beat and on migrate, and a default partition would make every later CREATE of a month scan it
and fail if it held that month's rows.

Every function takes the connection to work on: maintenance (creating, detaching, dropping
partitions) needs the tables' owner role, which the application's role is not
(docs/configuration.md, "Database roles"). Nothing here knows which tables exist; the apps do.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql

_NAME = re.compile(r"^(?P<table>.+)_p(?P<year>\d{4})(?P<month>\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, when: dt.datetime | dt.date) -> Month:
        if isinstance(when, dt.datetime):
            when = when.astimezone(dt.UTC) if when.tzinfo else when
        return cls(when.year, when.month)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.plus(1).start

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def partition_name(table: str, month: Month) -> str:
    return f"{table}_p{month.year:04d}{month.month:02d}"


def _execute(cursor: Any, statement: sql.Composable | str, params: list[Any] | None = None) -> None:
    # Django's cursor wrapper takes strings; composed SQL is rendered with the connection's quoting.
    text = statement if isinstance(statement, str) else statement.as_string(cursor.connection)
    cursor.execute(text, params)


def table_is_partitioned(cursor: Any, table: str) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions_list(cursor: Any, table: str) -> list[tuple[str, Month]]:
    """The monthly partitions attached to `table`, oldest first."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)",
        [table],
    )
    found = []
    for (name,) in cursor.fetchall():
        match = _NAME.match(name)
        if match and match["table"] == table:
            found.append((name, Month(int(match["year"]), int(match["month"]))))
    return sorted(found, key=lambda item: item[1])


def partition_create(cursor: Any, table: str, month: Month, *, statement_triggers: list[str] = ()) -> bool:
    """Creates `table`'s partition for `month` unless it exists; True if it was made.

    Row-level triggers and indexes of the parent are cloned onto the partition by PostgreSQL;
    statement-level triggers are not (a TRUNCATE names the partition, not the parent), so each
    `statement_triggers` entry, a `CREATE TRIGGER` template with `{partition}` where the table name
    goes, is applied to the new partition too."""
    name = partition_name(table, month)
    cursor.execute("SELECT to_regclass(%s)", [name])
    if cursor.fetchone()[0] is not None:
        return False
    _execute(
        cursor,
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
            sql.Identifier(name), sql.Identifier(table), sql.Literal(month.start), sql.Literal(month.end)
        ),
    )
    for template in statement_triggers:
        _execute(cursor, sql.SQL(template).format(partition=sql.Identifier(name)))
    return True


def partitions_ensure(
    cursor: Any, table: str, *, through: Month, since: Month, statement_triggers: list[str] = ()
) -> list[str]:
    """Creates every missing month of `table` from `since` through `through`; the names made."""
    made = []
    month = since
    while month <= through:
        if partition_create(cursor, table, month, statement_triggers=statement_triggers):
            made.append(partition_name(table, month))
        month = month.plus(1)
    return made


def partition_detach(cursor: Any, table: str, partition: str) -> None:
    """Takes `partition` out of `table`: its rows leave the table the application reads, the
    partition stays a table of its own (to export, then drop)."""
    _execute(
        cursor, sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(sql.Identifier(table), sql.Identifier(partition))
    )


def table_drop(cursor: Any, table: str) -> None:
    _execute(cursor, sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def table_partition_by_month(
    cursor: Any,
    table: str,
    *,
    key: str,
    constraints: list[str],
    drop_indexes: tuple[str, ...] = (),
    months_ahead: int,
    now: dt.datetime,
) -> list[str]:
    """Turns the plain table `table` into one partitioned by month on `key`, keeping its name,
    columns, defaults, identity, CHECK constraints, indexes and foreign keys, and every row.

    Primary and unique keys of a partitioned table must contain the partition key, so the old ones
    are not copied: `constraints` are the `ALTER TABLE {table} ADD CONSTRAINT ...` clauses that
    replace them (`{table}` is filled in). Indexes in `drop_indexes` are not copied either.
    Triggers are not copied: the caller creates them on the new parent. Returns the partitions."""
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef, c.contype IS NOT NULL
        FROM pg_indexes i LEFT JOIN pg_constraint c
            ON c.conname = i.indexname AND c.conrelid = to_regclass(%s) AND c.contype IN ('p', 'u')
        WHERE i.schemaname = current_schema() AND i.tablename = %s
        """,
        [table, table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%s) AND contype = 'f'",
        [table],
    )
    foreign_keys = cursor.fetchall()
    old = f"{table}_unpartitioned"
    _execute(cursor, sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(table), sql.Identifier(old)))
    for number, (index, _, _) in enumerate(indexes):
        # Index names are unique per schema: the old ones step aside for the new table's.
        rename = sql.SQL("ALTER INDEX {} RENAME TO {}")
        _execute(cursor, rename.format(sql.Identifier(index), sql.Identifier(f"{old}_{number}")))
    _execute(
        cursor,
        sql.SQL(
            "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS) "
            "PARTITION BY RANGE ({})"
        ).format(sql.Identifier(table), sql.Identifier(old), sql.Identifier(key)),
    )
    for constraint in constraints:
        _execute(cursor, sql.SQL(constraint).format(table=sql.Identifier(table)))
    for index, definition, backs_constraint in indexes:
        if not backs_constraint and index not in drop_indexes:
            cursor.execute(definition)  # pg_indexes spells it with the original table name: the new parent's
    for name, definition in foreign_keys:
        _execute(
            cursor,
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
            + sql.SQL(definition),
        )
    _execute(cursor, sql.SQL("SELECT min({}) FROM {}").format(sql.Identifier(key), sql.Identifier(old)))
    oldest = cursor.fetchone()[0]
    current = Month.of(now)
    made = partitions_ensure(
        cursor, table, since=min(Month.of(oldest), current) if oldest else current, through=current.plus(months_ahead)
    )
    _execute(cursor, sql.SQL("INSERT INTO {} SELECT * FROM {}").format(sql.Identifier(table), sql.Identifier(old)))
    # The new identity starts where the old one stopped, so ids stay unique across the move.
    _execute(
        cursor,
        sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), coalesce(max(id), 0) + 1, false) FROM {}").format(
            sql.Literal(table), sql.Identifier(table)
        ),
    )
    _execute(cursor, sql.SQL("DROP TABLE {}").format(sql.Identifier(old)))
    # The identity's sequence was made while the old one held its name: it takes the name back.
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    _execute(
        cursor,
        sql.SQL("ALTER SEQUENCE {} RENAME TO {}").format(
            sql.SQL(cursor.fetchone()[0]), sql.Identifier(f"{table}_id_seq")
        ),
    )
    return made
