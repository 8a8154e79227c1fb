"""Archiving a month of a partitioned table: export, verify, then detach and drop; and verifying an
archive's export later, for the audit log as a piece of its hash chains.

The order is what makes it safe: the month is exported (JSON lines, one row each, plus a manifest
with the file's SHA-256 and, for the audit log, where each chain's run starts and ends), the file is
read back and checked (row count, hash, and for the audit log every chain's hashes and its link to
the archive before it), and only then, in one short transaction, is the partition detached, its
row count checked again, the archive recorded and audited, and the detached table dropped. A
failure at any step leaves the month attached and whole. Rows are never deleted.

It runs as the tables' owner (DETACH and DROP need ownership, which the application's role does not
have): `manage.py ledger_partitions archive`, or the beat task on LEDGER_MAINTENANCE_QUEUE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from genai_platform.partitioning import Month, partition_detach, partition_name, table_drop

from .chain import GENESIS, VERIFY_COLUMNS, verify_chain
from .models import ArchivedPartition, AuditCheckpoint
from .partitions import AUDIT_TABLE
from .services import audit_record

#: How each table's rows are ordered in its export: the audit log chain by chain, in position order.
_EXPORT_ORDER = {AUDIT_TABLE: ("chain", "sequence")}
_TIME_AS_HASHED = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


class ArchiveRefused(Exception):
    """The month was not archived (and stays attached): its export did not verify, or rows changed."""


@dataclass
class ArchiveCheck:
    """What reading an export back found."""

    rows: int = 0
    sha256: str = ""
    chains: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def partition_archive(*, table: str, month: Month, directory: Path, key: str = "occurred_at") -> ArchivedPartition:
    """Archives `table`'s partition of `month` into `directory`; raises ArchiveRefused, leaving it
    attached, if the export does not verify. Returns the archive's record."""
    partition = partition_name(table, month)
    target = Path(directory) / table
    target.mkdir(parents=True, exist_ok=True)
    export_path = target / f"{partition}.jsonl"
    exported = _export(partition, key=key, order=_EXPORT_ORDER.get(table, (key, "id")), path=export_path)
    check = export_check(export_path, table=table, before=month)
    if check.problems:
        raise ArchiveRefused(f"{partition}: the export does not verify: {'; '.join(check.problems)}")
    if check.rows != exported:
        raise ArchiveRefused(f"{partition}: {exported} rows exported, {check.rows} read back")
    manifest = {
        "table": table,
        "partition": partition,
        "month": str(month),
        "month_start": month.start.isoformat(),
        "month_end": month.end.isoformat(),
        "rows": check.rows,
        "file": export_path.name,
        "sha256": check.sha256,
        "chains": check.chains,
        "exported_at": timezone.now().isoformat(),
    }
    _write_durably(target / f"{partition}.manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with transaction.atomic(), connection.cursor() as cursor:
        partition_detach(cursor, table, partition)
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(partition))
        cursor.execute(count.as_string(cursor.connection))
        if cursor.fetchone()[0] != check.rows:
            # A late row arrived after the export: roll back (the month is attached again) and retry later.
            raise ArchiveRefused(f"{partition}: rows were added since the export; run the archive again")
        archive = ArchivedPartition.objects.create(
            table=table,
            partition=partition,
            month_start=month.start,
            month_end=month.end,
            rows=check.rows,
            file_name=export_path.name,
            sha256=check.sha256,
            chains=check.chains,
            archived_at=timezone.now(),
        )
        audit_record(
            actor="system",
            action="audit.partition_archived",
            target=archive,
            after={"table": table, "partition": partition, "rows": check.rows, "sha256": check.sha256},
        )
        table_drop(cursor, partition)
    return archive


def _export(partition: str, *, key: str, order: tuple[str, ...], path: Path) -> int:
    """Writes every row of `partition` as one JSON object a line, times spelled as the audit hash
    spells them (UTC, microseconds), read through a server-side cursor; how many rows."""
    query = sql.SQL(
        "SELECT (to_jsonb(t) || jsonb_build_object({}, " + _TIME_AS_HASHED + "))::text FROM {} t ORDER BY {}"  # noqa: S608 - composed with sql.Identifier
    )
    rows = 0
    temporary = path.with_suffix(".partial")
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.connection.cursor(name="archive_export") as lines,
        temporary.open("w", encoding="utf-8") as out,
    ):
        lines.itersize = 10_000
        lines.execute(
            query.format(
                sql.Literal(key),
                sql.SQL("t.") + sql.Identifier(key),
                sql.Identifier(partition),
                sql.SQL(", ").join(sql.Identifier(c) for c in order),
            )
        )
        for (line,) in lines:
            out.write(line + "\n")
            rows += 1
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    return rows


def _write_durably(path: Path, text: str) -> None:
    temporary = path.with_suffix(".partial")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def export_check(path: Path, *, table: str, before: Month) -> ArchiveCheck:
    """Reads an export back: its rows and SHA-256 and, for the audit log, each chain's run checked
    event by event (content against hash, positions without gaps, links) from where the archives of
    months before `before` left the chain (or its start), and against the signed checkpoints inside
    the run."""
    check = ArchiveCheck()
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for block in iter(lambda: raw.read(1 << 20), b""):
            digest.update(block)
    check.sha256 = digest.hexdigest()
    if table != AUDIT_TABLE:
        with path.open(encoding="utf-8") as lines:
            check.rows = sum(1 for _ in lines)
        return check
    ends = _chain_ends_before(before)
    for chain, events in _chains_in(path):
        events = list(events)
        check.rows += len(events)
        first, last = events[0], events[-1]
        after = ends.get(chain, (0, GENESIS))
        checkpoints = list(
            AuditCheckpoint.objects.filter(chain=chain, sequence__gt=after[0], sequence__lte=last["sequence"]).values()
        )
        problem = verify_chain(chain, (_verify_row(e) for e in events), checkpoints, after=after)
        if problem is not None:
            check.problems.append(str(problem))
        check.chains[chain] = {
            "first_sequence": first["sequence"],
            "prev_hash": first["prev_hash"],
            "last_sequence": last["sequence"],
            "last_hash": last["hash"],
            "events": len(events),
        }
    return check


def _chains_in(path: Path) -> Iterator[tuple[str, Iterator[dict[str, Any]]]]:
    """The export's events grouped by chain (it is written chain by chain, in position order)."""
    with path.open(encoding="utf-8") as lines:
        events = (json.loads(line) for line in lines)
        yield from itertools.groupby(events, key=lambda event: event["chain"])


def _verify_row(event: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(event[column] for column in VERIFY_COLUMNS)


def _chain_ends_before(month: Month) -> dict[str, tuple[int, str]]:
    """Each chain's last position and hash in the audit archives of months before `month`."""
    ends: dict[str, tuple[int, str]] = {}
    archives = ArchivedPartition.objects.filter(table=AUDIT_TABLE, month_start__lt=month.start)
    for chains in archives.values_list("chains", flat=True):
        for chain, run in chains.items():
            if run["last_sequence"] > ends.get(chain, (0, ""))[0]:
                ends[chain] = (run["last_sequence"], run["last_hash"])
    return ends


def archive_verify(manifest_path: Path) -> list[str]:
    """Checks an archived month against its manifest and the database's record of it: the file's
    SHA-256, its row count and, for the audit log, every chain's run (hashes, positions, the link to
    the archive before it, signed checkpoints inside it) and its ends as recorded. The problems
    found; none means the export is exactly what was archived and its chains are intact."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    month = Month.of(dt.datetime.fromisoformat(manifest["month_start"]))
    export = Path(manifest_path).parent / manifest["file"]
    check = export_check(export, table=manifest["table"], before=month)
    problems = list(check.problems)
    recorded = ArchivedPartition.objects.filter(partition=manifest["partition"]).first()
    for source, expected in (("manifest", manifest), ("archive record", recorded and _as_manifest(recorded))):
        if expected is None:
            problems.append(f"{manifest['partition']}: the database has no record of this archive")
            continue
        if check.sha256 != expected["sha256"]:
            problems.append(f"{export.name}: its SHA-256 differs from the {source}'s")
        if check.rows != expected["rows"]:
            problems.append(f"{export.name}: {check.rows} rows, the {source} says {expected['rows']}")
        if check.chains != expected["chains"]:
            problems.append(f"{export.name}: its chains' runs differ from the {source}'s")
    return problems


def _as_manifest(archive: ArchivedPartition) -> dict[str, Any]:
    return {"sha256": archive.sha256, "rows": archive.rows, "chains": archive.chains}
