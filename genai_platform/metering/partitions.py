"""Keeping the ledger's and the audit log's monthly partitions: months created ahead, months past
retention archived (exported, verified, detached, dropped: never a DELETE).

Both run as the tables' owner role, not the application's (which owns nothing and may not create,
detach or drop tables): `manage.py ledger_partitions ensure|archive` with the owner's DATABASE_URL,
or the beat tasks on LEDGER_MAINTENANCE_QUEUE, served by a worker running as the owner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from genai_platform.audit.archive import partition_archive
from genai_platform.audit.models import ArchivedPartition
from genai_platform.audit.partitions import AUDIT_TABLE, TRUNCATE_TRIGGER
from genai_platform.partitioning import Month, partitions_ensure, partitions_list, table_is_partitioned

from .models import UsageRecord

USAGE_TABLE = UsageRecord._meta.db_table


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    #: Statement-level triggers each partition needs of its own (PostgreSQL clones only row triggers).
    statement_triggers: tuple[str, ...]

    def retention_months(self) -> int:
        return settings.AUDIT_RETENTION_MONTHS if self.table == AUDIT_TABLE else settings.LEDGER_RETENTION_MONTHS


#: The usage ledger first: archiving its months writes audit events, never the other way round.
PARTITIONED_TABLES = (
    PartitionedTable(USAGE_TABLE, ()),
    PartitionedTable(AUDIT_TABLE, (TRUNCATE_TRIGGER,)),
)


def ledger_partitions_ensure(*, since: dt.date | None = None, now: dt.datetime | None = None) -> list[str]:
    """Creates the months from `since` (default: the current month) through LEDGER_PARTITIONS_AHEAD
    months ahead, for the usage ledger and the audit log; the partitions made. Idempotent."""
    if connection.vendor != "postgresql":
        return []
    current = Month.of(now or timezone.now())
    made: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for partitioned in PARTITIONED_TABLES:
            if not table_is_partitioned(cursor, partitioned.table):
                continue
            made += partitions_ensure(
                cursor,
                partitioned.table,
                since=min(Month.of(since), current) if since else current,
                through=current.plus(settings.LEDGER_PARTITIONS_AHEAD),
                statement_triggers=list(partitioned.statement_triggers),
            )
    return made


def ledger_partitions_archive(*, now: dt.datetime | None = None) -> list[ArchivedPartition]:
    """Archives every month past its table's retention (LEDGER_RETENTION_MONTHS, AUDIT_RETENTION_MONTHS;
    0 keeps everything), oldest first, into LEDGER_ARCHIVE_DIR; the archives made. A month whose
    export does not verify raises `ArchiveRefused` and stays attached, with every month after it."""
    if connection.vendor != "postgresql":
        return []
    current = Month.of(now or timezone.now())
    made = []
    for partitioned in PARTITIONED_TABLES:
        months = partitioned.retention_months()
        if months <= 0:
            continue
        with connection.cursor() as cursor:
            attached = partitions_list(cursor, partitioned.table)
        for _, month in attached:
            if month < current.plus(-months):
                made.append(
                    partition_archive(table=partitioned.table, month=month, directory=Path(settings.LEDGER_ARCHIVE_DIR))
                )
    return made


def ledger_partitions() -> list[tuple[str, str, int]]:
    """(table, partition, estimated rows) of every attached month, oldest first."""
    if connection.vendor != "postgresql":
        return []
    found = []
    with connection.cursor() as cursor:
        for partitioned in PARTITIONED_TABLES:
            for name, _ in partitions_list(cursor, partitioned.table):
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [name])
                found.append((partitioned.table, name, max(0, cursor.fetchone()[0])))
    return found
