"""The ledger's and the audit log's monthly partitions (real PostgreSQL): months made ahead and
guarded like the table, a record for a month without a partition set aside (never lost), replays
still colliding, and past months archived (exported, verified, detached, dropped, never DELETEd)
with `audit verify` checking an archive's export and the live chains continuing from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from genai_platform.audit.archive import ArchiveRefused, archive_verify
from genai_platform.audit.models import ArchivedPartition, AuditEvent
from genai_platform.audit.services import audit_record, audit_verify
from genai_platform.ledger.services import usage_flush, usage_record, usage_records_write
from genai_platform.metering.models import DeadLetterUsage, UsageRecord
from genai_platform.metering.partitions import (
    ledger_partitions,
    ledger_partitions_archive,
    ledger_partitions_ensure,
)
from genai_platform.partitioning import Month, partition_name
from tests.factories import LobFactory, UseCaseFactory
from tests.metering.test_ledger import usage_event

NOW = dt.datetime.now(dt.UTC)
#: Two months past a retention of two (archived), one within it (kept), relative to the real month.
AUGUST, SEPTEMBER, OCTOBER = Month.of(NOW).plus(-4), Month.of(NOW).plus(-3), Month.of(NOW).plus(-2)


def attached(table: str) -> list[str]:
    return [name for owner, name, _ in ledger_partitions() if owner == table]


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


def triggers_on(name: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s)", [name])
        return {row[0] for row in cursor.fetchall()}


def tamper(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER governance_auditevent_append_only")


def audited_at(monkeypatch, when: dt.datetime, lob, count: int, start: int = 0) -> list[AuditEvent]:
    """`count` events of `lob`'s chain written as if at `when`."""
    monkeypatch.setattr(timezone, "now", lambda: when)
    with transaction.atomic():
        events = [
            audit_record(actor=f"user{i}", action="lob.updated", target=lob, lob_slug=lob.slug, after={"i": i})
            for i in range(start, start + count)
        ]
    monkeypatch.undo()
    return events


@pytest.fixture
def archive_dir(settings, tmp_path) -> Iterator[Path]:
    settings.LEDGER_ARCHIVE_DIR = str(tmp_path / "archive")
    settings.AUDIT_RETENTION_MONTHS = 2
    settings.LEDGER_RETENTION_MONTHS = 2
    yield tmp_path / "archive"
    ledger_partitions_ensure(since=dt.date(2024, 1, 1))  # the months archived here, back for other tests


# ---- partitions ----


@pytest.mark.django_db
def test_both_tables_are_partitioned_by_month_from_this_month_to_the_months_ahead(settings):
    settings.LEDGER_PARTITIONS_AHEAD = 3
    ledger_partitions_ensure()
    current = Month.of(timezone.now())
    expected = [current.plus(n) for n in range(4)]

    for table in ("metering_usagerecord", "governance_auditevent"):
        assert {partition_name(table, month) for month in expected} <= set(attached(table))


@pytest.mark.django_db
def test_ensure_creates_missing_months_once_each_guarded_like_the_audit_table():
    # Months before any the test session made (it makes them from 2024 on, for dated fixtures).
    since = dt.date(2019, 11, 1)
    made = ledger_partitions_ensure(since=since, now=NOW)

    old = [Month(2019, 11), Month(2019, 12)]
    assert {partition_name(t, m) for t in ("governance_auditevent", "metering_usagerecord") for m in old} <= set(made)
    assert ledger_partitions_ensure(since=since, now=NOW) == []  # idempotent
    # The row trigger is cloned by PostgreSQL, the TRUNCATE one is put on each month by the service.
    assert triggers_on(partition_name("governance_auditevent", old[0])) >= {
        "governance_auditevent_append_only",
        "governance_auditevent_no_truncate",
    }


@pytest.mark.django_db
def test_an_audit_event_in_a_month_partition_refuses_update_and_delete():
    lob = LobFactory(slug="retail")
    with transaction.atomic():
        event = audit_record(actor="alice", action="lob.updated", target=lob, lob_slug="retail")
    partition = partition_name("governance_auditevent", Month.of(event.occurred_at))

    for statement in (f"UPDATE {partition} SET actor = 'mallory'", f"DELETE FROM {partition}"):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


@pytest.mark.django_db
def test_a_usage_record_for_a_month_without_a_partition_is_set_aside_never_lost():
    use_case = UseCaseFactory()
    stray = usage_event(use_case, occurred_at="1999-01-15T10:00:00+00:00")
    fine = usage_event(use_case)
    usage_record(stray)
    usage_record(fine)

    usage_flush(consumer="test")

    assert list(UsageRecord.objects.values_list("request_id", flat=True)) == [fine["request_id"]]
    letter = DeadLetterUsage.objects.get()
    assert letter.request_id == stray["request_id"] and "no partition" in letter.error
    assert json.loads(letter.event)["occurred_at"] == stray["occurred_at"]  # whole, to replay once the month exists


@pytest.mark.django_db
def test_a_replayed_record_is_written_once_and_the_unique_key_still_refuses_a_copy():
    use_case = UseCaseFactory()
    event = usage_event(use_case)

    assert usage_records_write([event]) == 1
    assert usage_records_write([event]) == 0  # the flusher's lookup finds it

    record = UsageRecord.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageRecord.objects.create(
            request_id=record.request_id,
            occurred_at=record.occurred_at,  # the same buffered record carries the same time
            lob_id=record.lob_id,
            use_case_id=record.use_case_id,
            endpoint="chat",
            alias="chat",
            status="success",
        )


# ---- archive ----


def _three_months_of_audit(monkeypatch) -> tuple:
    """The retail chain: 3 events in August, 2 in September, 2 now; central gets one in September."""
    ledger_partitions_ensure(since=AUGUST.start.date())
    retail = LobFactory(slug="retail")
    august = audited_at(monkeypatch, AUGUST.start + dt.timedelta(days=3), retail, 3)
    september = audited_at(monkeypatch, SEPTEMBER.start + dt.timedelta(days=3), retail, 2, start=3)
    live = audited_at(monkeypatch, timezone.now(), retail, 2, start=5)
    return august, september, live


@pytest.mark.django_db(transaction=True)
def test_months_past_retention_are_exported_verified_detached_and_dropped_and_the_chain_still_verifies(
    monkeypatch, archive_dir
):
    august, september, _ = _three_months_of_audit(monkeypatch)
    use_case = UseCaseFactory(lob=LobFactory(slug="wealth"))
    old_usage = usage_event(use_case, occurred_at=(AUGUST.start + dt.timedelta(days=1)).isoformat())
    usage_records_write([old_usage, usage_event(use_case)])

    made = ledger_partitions_archive(now=NOW)  # retention 2: every older month goes, the third before now stays

    archived = [a.partition for a in made]
    # Oldest first, the ledger before the audit log (whose archive events land in the current month).
    ours = [
        partition_name("metering_usagerecord", AUGUST),
        partition_name("metering_usagerecord", SEPTEMBER),
        partition_name("governance_auditevent", AUGUST),
        partition_name("governance_auditevent", SEPTEMBER),
    ]
    assert [name for name in archived if name in ours] == ours
    assert archived == sorted(archived, key=lambda name: (not name.startswith("metering"), name))
    assert partition_name("governance_auditevent", OCTOBER) not in archived
    assert not table_exists(partition_name("governance_auditevent", AUGUST)) and not table_exists(
        partition_name("metering_usagerecord", AUGUST)
    )
    assert table_exists(partition_name("governance_auditevent", OCTOBER))
    assert old_usage["request_id"] not in set(UsageRecord.objects.values_list("request_id", flat=True))
    export = archive_dir / "governance_auditevent" / f"{partition_name('governance_auditevent', AUGUST)}.jsonl"
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert [line["hash"] for line in lines] == [e.hash for e in august]
    archive = ArchivedPartition.objects.get(partition=partition_name("governance_auditevent", SEPTEMBER))
    assert archive.chains["retail"] == {
        "first_sequence": 4,
        "prev_hash": august[-1].hash,
        "last_sequence": 5,
        "last_hash": september[-1].hash,
        "events": 2,
    }
    assert AuditEvent.objects.filter(action="audit.partition_archived").count() == len(made)  # each one audited
    # The live chain continues from the archive's end hash, and both exports verify on their own.
    assert audit_verify() == []
    for table, month in (("governance_auditevent", AUGUST), ("governance_auditevent", SEPTEMBER)):
        assert archive_verify(archive_dir / table / f"{partition_name(table, month)}.manifest.json") == []
    usage_manifest = f"{partition_name('metering_usagerecord', AUGUST)}.manifest.json"
    assert archive_verify(archive_dir / "metering_usagerecord" / usage_manifest) == []


@pytest.mark.django_db(transaction=True)
def test_audit_verify_detects_a_tampered_archive_export(monkeypatch, archive_dir):
    _three_months_of_audit(monkeypatch)
    ledger_partitions_archive(now=NOW)
    folder = archive_dir / "governance_auditevent"
    export = folder / f"{partition_name('governance_auditevent', AUGUST)}.jsonl"
    manifest_path = folder / f"{partition_name('governance_auditevent', AUGUST)}.manifest.json"
    original = export.read_text()

    export.write_text(original.replace('"actor": "user1"', '"actor": "mallory"'))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="fails verification"):
        call_command("audit", "verify", "--archive", str(manifest_path), stdout=out, stderr=err)
    assert "position 2" in err.getvalue() and "does not match its hash" in err.getvalue()

    # Dropping an event and rewriting the manifest's hash to match still differs from the database's record.
    lines = original.splitlines(keepends=True)
    export.write_text(lines[0] + lines[2])
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(export.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    problems = archive_verify(manifest_path)
    assert any("position 2 is missing" in p for p in problems)
    assert any("differs from the archive record's" in p for p in problems)

    export.write_text(original)
    recorded = ArchivedPartition.objects.get(partition=partition_name("governance_auditevent", AUGUST))
    manifest_path.write_text(json.dumps(manifest | {"sha256": recorded.sha256}))
    assert archive_verify(manifest_path) == []


@pytest.mark.django_db(transaction=True)
def test_the_first_live_event_must_link_to_the_archives_end(monkeypatch, archive_dir):
    _, _, live = _three_months_of_audit(monkeypatch)
    ledger_partitions_archive(now=NOW)

    tamper("DELETE FROM governance_auditevent WHERE id = %s", [live[0].pk])

    [problem] = audit_verify()
    assert "position 6 is missing" in str(problem)


@pytest.mark.django_db(transaction=True)
def test_a_tampered_month_is_not_archived_and_stays_attached(monkeypatch, archive_dir):
    august, _, _ = _three_months_of_audit(monkeypatch)
    tamper("UPDATE governance_auditevent SET actor = 'mallory' WHERE id = %s", [august[1].pk])

    with pytest.raises(ArchiveRefused, match="does not match its hash"):
        ledger_partitions_archive(now=NOW)

    assert table_exists(partition_name("governance_auditevent", AUGUST))
    assert AuditEvent.objects.filter(pk=august[1].pk).exists()
    refused = [partition_name("governance_auditevent", month) for month in (AUGUST, SEPTEMBER)]
    assert not ArchivedPartition.objects.filter(partition__in=refused).exists()  # nor any month after it


@pytest.mark.django_db(transaction=True)
def test_without_retention_nothing_is_archived(monkeypatch, archive_dir, settings):
    settings.AUDIT_RETENTION_MONTHS = settings.LEDGER_RETENTION_MONTHS = 0
    _three_months_of_audit(monkeypatch)

    assert ledger_partitions_archive(now=NOW) == []
    assert table_exists(partition_name("governance_auditevent", AUGUST))


# ---- tampering with a partitioned chain written by two concurrent flushers ----


@pytest.fixture
def flushed_by_two(settings) -> list[AuditEvent]:
    """50 records of one LOB flushed by two flushers at once, then a signed checkpoint."""
    import base64
    import threading

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from genai_platform.audit.services import audit_checkpoint

    key = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    settings.AUDIT_SIGNING_KEY = base64.b64encode(key).decode()
    use_case = UseCaseFactory(lob=LobFactory(slug="retail"))
    for _ in range(50):
        usage_record(usage_event(use_case))
    threads = [
        threading.Thread(target=lambda n=name: (usage_flush(consumer=n, batch_size=10), connection.close()))
        for name in ("a", "b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    audit_checkpoint()
    events = list(AuditEvent.objects.filter(chain="retail").order_by("sequence"))
    assert [e.sequence for e in events] == list(range(1, len(events) + 1)) and len(events) >= 50
    assert audit_verify() == []
    return events


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("tampering", "detected"),
    [
        ("UPDATE governance_auditevent SET actor = 'mallory' WHERE id = {e17}", "does not match its hash"),
        ("DELETE FROM governance_auditevent WHERE id = {e17}", "position 17 is missing"),
        (
            "UPDATE governance_auditevent SET sequence = 1000 WHERE id = {e17}; "
            "UPDATE governance_auditevent SET sequence = 17 WHERE id = {e18}; "
            "UPDATE governance_auditevent SET sequence = 18 WHERE id = {e17}",
            "position 17",
        ),
    ],
)
def test_editing_deleting_or_swapping_events_in_a_month_partition_is_detected(flushed_by_two, tampering, detected):
    by_position = {e.sequence: e.pk for e in flushed_by_two}

    for statement in tampering.format(e17=by_position[17], e18=by_position[18]).split("; "):
        tamper(statement, [])

    [problem] = audit_verify()
    assert detected in str(problem)


@pytest.mark.django_db(transaction=True)
def test_a_month_truncated_past_a_signed_checkpoint_is_detected(flushed_by_two):
    """A superuser passes the TRUNCATE trigger (test databases are emptied that way): emptying the
    month's partition, and resetting the head to hide it, still fails against the checkpoint."""
    month = partition_name("governance_auditevent", Month.of(flushed_by_two[0].occurred_at))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {month}")
    tamper("UPDATE governance_auditchainhead SET sequence = 0, hash = %s WHERE chain = 'retail'", ["0" * 64])

    [problem] = audit_verify()
    last = flushed_by_two[-1].sequence
    assert f"events up to the signed checkpoint at position {last} are missing" in str(problem)
