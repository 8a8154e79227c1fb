"""Ledger benchmark: flush throughput, reports over a large ledger, budget rebuilds, audit verify.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/genai_bench_ledger REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python benchmarks/ledger/run.py [--records 20000] [--redacted 5000] [--rows 10000000] \\
        [--audit-events 1000000] [--json PATH]

It owns its database and Redis db: the ledger and audit tables are emptied first (it refuses a
database whose name does not contain "bench"). Steps, each timed with wall-clock time:

1. flush, capture off: `--records` usage events appended through the buffer as the gateway does
   (`usage_record`: Redis stream + spool), then one flusher (`usage_flush`) moves them: records/s;
2. flush, `redacted` capture: the same with a distinct prompt and answer per record, shaped as the
   gateway buffers them under the central baseline (the user message and the answer already masked
   by the call's guardrails, a shared system prompt left to redact); with `--redacted-unchecked N`,
   also N records whose texts no guardrail masked (everything redacted, the worst case). Redaction
   runs in the calling process's redaction pool (`genai_platform.ledger.capturing`), as in a
   gateway: `capture_redactions_per_s` is that pool's rate in this one process (records appended in
   runs the pool's bound can hold, so none is skipped); the flush rate counts usage records, each
   followed by its capture entry;
3. two flushers: `manage.py flush_usage` twice at once on one stream of `--records` events:
   records/s of the pair;
4. `--rows` synthetic usage records over three months written with SQL `generate_series`, with
   their daily rollups; then a month's chargeback by LOB, by use case and by model
   (`spend_breakdown`), the spend page (GET /admin/metering/usagerecord/spend/ as a superuser) and one budget
   counter rebuilt from the ledger (`budget_spend_rebuild`);
5. `--audit-events` events in one chain (hashes chained in memory, COPY), then `audit_verify`:
   events/s;
6. archive (only when asked, `--steps archive`): `--archive-events` events of one chain in the
   month four months back, that month archived (`partition_archive`: export, read back and verify,
   detach, drop) and its export verified again from the manifest (`archive_verify`): events/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/genai_bench_ledger")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

TARGETS = {
    "flush_records_per_s": 5_000,
    "flush_redacted_records_per_s": 2_000,
    "report_seconds": 1.0,
    "rebuild_seconds": 0.2,
    "verify_events_per_s": 50_000,
}
PROMPT = "Email jane.doe@example.com about card 4111 1111 1111 1111 and the quarterly numbers, please. " * 3
SYSTEM_PROMPT = "You are the billing assistant of Contoso. Escalate disputes to billing-team@contoso.example."


def _exchange(index: int) -> tuple[str, str]:
    """A distinct user message and answer for record `index`, with an e-mail, a phone and a card."""
    user = (
        f"Hi, customer {index} here. My order {index} was charged twice to card 4111 1111 1111 1111. "
        f"Email me at user{index}@example.com or call +44 20 7946 {index % 10_000:04d}."
    )
    answer = f"Sorry about order {index}. I refunded the second charge and wrote to user{index}@example.com."
    return user, answer


def _capture(capture: str, index: int) -> dict:
    """What the gateway buffers: with `redacted`, the user message and answer as the call's guardrails
    masked them (done on the request path, so not timed here) and the system prompt left to redact."""
    from governance.capture import REDACTED, _redaction_policy, capture_for_buffer
    from governance.guardrails.engine import evaluate

    user, answer = _exchange(index)
    if capture == "redacted-unchecked":
        return capture_for_buffer(REDACTED, f"system: {SYSTEM_PROMPT}\nuser: {user}", answer)
    user = evaluate(user, _redaction_policy(), "input").text
    answer = evaluate(answer, _redaction_policy(), "output").text
    return capture_for_buffer(REDACTED, f"system: {SYSTEM_PROMPT}\nuser: {user}", answer, redacted={user, answer})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--redacted", type=int, default=5_000)
    parser.add_argument("--redacted-unchecked", type=int, default=0)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--audit-events", type=int, default=1_000_000)
    parser.add_argument("--archive-events", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--steps",
        default="flush,reports,verify",
        help="comma-separated subset of flush, reports, verify, archive (archive: only when named)",
    )
    args = parser.parse_args()
    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit("refusing to empty a database whose name does not contain 'bench'")
    _ensure_database()
    call_command("migrate", verbosity=0)
    results: dict[str, float] = {}
    tenants = _tenants()

    steps = set(args.steps.split(","))
    if "flush" in steps:
        _reset()
        results["append_records_per_s"], _, results["flush_records_per_s"] = _flush_one(
            tenants, args.records, capture=None
        )
        _reset()
        _, results["capture_redactions_per_s"], results["flush_redacted_records_per_s"] = _flush_one(
            tenants, args.redacted, capture="redacted"
        )
        if args.redacted_unchecked:
            _reset()
            _, unchecked_rate, results["flush_redacted_unchecked_records_per_s"] = _flush_one(
                tenants, args.redacted_unchecked, capture="redacted-unchecked"
            )
            results["capture_redactions_unchecked_per_s"] = unchecked_rate
        _reset()
        results["flush_two_flushers_records_per_s"] = _flush_two(tenants, args.records)
    if "reports" in steps:
        _synthetic_ledger(tenants, args.rows)
        results.update(_reports(tenants))
    if "verify" in steps:
        _reset()
        results["verify_events_per_s"] = _verify(args.audit_events)
    if "archive" in steps:
        _reset()
        results.update(_archive(args.archive_events))

    print(json.dumps(results, indent=2))
    for name, target in TARGETS.items():
        if name not in results:
            continue
        value = results[name]
        met = value <= target if name.endswith("seconds") else value >= target
        print(f"{name}: {value:,.3f} (target {target:,}) {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _ensure_database() -> None:
    import psycopg

    name = connection.settings_dict["NAME"]
    params = {k: v for k, v in connection.get_connection_params().items() if k != "dbname"}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def _tenants() -> list:
    """Four LOBs with two use cases each (created once, kept between runs)."""
    from lob_tenants.models import Lob, UseCase

    use_cases = []
    for lob_number in range(4):
        lob, _ = Lob.objects.get_or_create(slug=f"bench-lob-{lob_number}", defaults={"name": f"Bench LOB {lob_number}"})
        for case_number in range(2):
            use_case, _ = UseCase.objects.get_or_create(
                lob=lob, slug=f"bench-{case_number}", defaults={"name": f"Bench use case {case_number}"}
            )
            use_cases.append(use_case)
    return use_cases


def _reset() -> None:
    import tempfile

    from genai_platform.metering.ledger import usage_buffer

    buffer = usage_buffer()
    assert buffer is not None, "the benchmark needs REDIS_URL"
    buffer._redis.flushdb()
    # A new spool too: otherwise the FLUSHDB looks like a Redis loss and the last step's records come back.
    settings.METERING_SPOOL_DIR = tempfile.mkdtemp(prefix="bench-usage-spool-")
    with connection.cursor() as cursor:
        # The bench database only: the append-only trigger is switched off to empty the audit log.
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER USER")
        cursor.execute(
            "TRUNCATE metering_usagerecord, metering_usagedailyrollup, metering_deadletterusage, "
            "governance_auditevent, governance_auditchainhead, governance_auditcheckpoint, "
            "governance_capturedexchange"
        )
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER USER")


def _event(use_case, capture: str | None, index: int = 0) -> dict:
    event = {
        "request_id": f"req_{uuid.uuid4().hex}",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "lob_id": use_case.lob_id,
        "lob_slug": use_case.lob.slug,
        "use_case_id": use_case.pk,
        "api_key_id": None,
        "key_prefix": "bench",
        "endpoint": "chat",
        "alias": "chat-default",
        "deployment": "bench-small",
        "provider": "sandbox",
        "input_tokens": 120,
        "output_tokens": 80,
        "input_price_per_million": "1",
        "output_price_per_million": "2",
        "cost": "0.00028",
        "latency_ms": 420.0,
        "attempts": 1,
        "status": "success",
    }
    if capture:
        event["capture"] = _capture(capture, index)
    return event


def _append(tenants: list, count: int, capture: str | None) -> tuple[float, float]:
    """Appends `count` events as the gateway does: records/s of the appends, and of the redaction pool
    (from the first append until every capture is buffered; 0 without captures)."""
    from genai_platform.ledger.capturing import CAPTURE_BOUND, captures_wait
    from genai_platform.ledger.services import usage_record

    events = [_event(tenants[i % len(tenants)], capture, i) for i in range(count)]
    appending = 0.0
    started = time.perf_counter()
    for run in range(0, count, CAPTURE_BOUND):
        run_started = time.perf_counter()
        for event in events[run : run + CAPTURE_BOUND]:
            usage_record(event)
        appending += time.perf_counter() - run_started
        assert captures_wait(timeout=600)
    redacted = time.perf_counter() - started
    return count / appending, (count / redacted if capture else 0.0)


def _flush_one(tenants: list, count: int, *, capture: str | None) -> tuple[float, float, float]:
    from genai_platform.ledger.services import usage_flush
    from genai_platform.metering.models import UsageRecord
    from governance.models import CapturedExchange

    if capture:
        from governance.capture import capture_finalize

        capture_finalize({"level": "redacted", "prompt": PROMPT, "output": PROMPT})  # loads the redaction engine
    append_rate, redaction_rate = _append(tenants, count, capture)
    started = time.perf_counter()
    usage_flush(consumer="bench", max_batches=1_000_000)
    elapsed = time.perf_counter() - started
    assert UsageRecord.objects.count() == count
    assert CapturedExchange.objects.count() == (count if capture else 0)
    print(f"flush ({capture or 'capture off'}): {count} records in {elapsed:.2f} s", flush=True)
    return append_rate, redaction_rate, count / elapsed


def _flush_two(tenants: list, count: int) -> float:
    """Two flusher processes (forked after set-up, each with its own database connection) released
    together on one stream; records/s of the pair from the release to the last one done."""
    import multiprocessing

    from genai_platform.metering.models import UsageRecord

    _append(tenants, count, None)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    connection.close()
    flushers = [context.Process(target=_flusher, args=(name, barrier)) for name in ("bench-a", "bench-b")]
    for flusher in flushers:
        flusher.start()
    barrier.wait()
    started = time.perf_counter()
    for flusher in flushers:
        flusher.join()
    elapsed = time.perf_counter() - started
    assert UsageRecord.objects.count() == count
    print(f"flush (2 flushers): {count} records in {elapsed:.2f} s", flush=True)
    return count / elapsed


def _flusher(name: str, barrier) -> None:
    from genai_platform.ledger.services import usage_flush
    from genai_platform.metering import ledger

    ledger.usage_buffer.cache_clear()  # a Redis client of its own, not the parent's socket
    barrier.wait()
    moved = usage_flush(consumer=name, max_batches=1_000_000)
    print(f"  {name}: {moved} records", flush=True)
    connection.close()


def _synthetic_ledger(tenants: list, rows: int) -> None:
    """`rows` records spread over the three months before this one, and their daily rollups."""
    from genai_platform.metering.models import UsageRecord
    from genai_platform.metering.partitions import ledger_partitions_ensure
    from genai_platform.metering.rollups import usage_rollups_rebuild

    if UsageRecord.objects.filter(request_id__startswith="syn_").count() == rows:
        print(f"synthetic ledger: reusing the {rows:,} rows already there", flush=True)
        return
    _reset()
    first = (dt.date.today().replace(day=1) - dt.timedelta(days=80)).replace(day=1)
    ledger_partitions_ensure(since=first)  # the ledger is partitioned by month: the months written below
    ids = [(u.lob_id, u.pk) for u in tenants]
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO metering_usagerecord (request_id, occurred_at, lob_id, use_case_id, api_key_id, end_user,
                endpoint, alias, deployment, provider, input_tokens, output_tokens, tokens_estimated,
                input_price_per_million, output_price_per_million, cost, latency_ms, attempts, stream, status,
                error_code)
            SELECT 'syn_' || n, %s::timestamptz + (n::float8 * 7862400 / %s) * interval '1 second',
                (ARRAY{[lob for lob, _ in ids]})[1 + n %% {len(ids)}],
                (ARRAY{[case for _, case in ids]})[1 + n %% {len(ids)}], NULL, '', 'chat',
                (ARRAY['chat-default','chat-large','embed'])[1 + n %% 3],
                (ARRAY['bench-small','bench-large','bench-embed'])[1 + n %% 3], 'sandbox',
                100 + n %% 500, 50 + n %% 300, false, 1, 2, (100 + n %% 500 + 2 * (50 + n %% 300)) / 1e6,
                300, 1, false, 'success', ''
            FROM generate_series(1, %s) AS n
            """,  # noqa: S608 - bench-only SQL built from our own integers
            [dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC), rows, rows],
        )
    print(f"synthetic ledger: {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    with transaction.atomic():
        usage_rollups_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metering_usagerecord")
        cursor.execute("ANALYZE metering_usagedailyrollup")
    print(f"rollups rebuilt in {time.perf_counter() - started:.1f} s", flush=True)


def _reports(tenants: list) -> dict[str, float]:
    from django.contrib.auth import get_user_model

    from genai_platform.metering.limits import BudgetScope
    from genai_platform.metering.reports import spend_breakdown
    from genai_platform.metering.services import budget_spend_rebuild

    last_month_end = dt.date.today().replace(day=1) - dt.timedelta(days=1)
    month_start = last_month_end.replace(day=1)
    results = {}
    for name, group_by in (("lob", ["lob"]), ("use_case", ["use_case"]), ("model", ["alias", "deployment"])):
        started = time.perf_counter()
        rows = spend_breakdown(lobs=None, start=month_start, end=last_month_end, group_by=group_by, period="month")
        results[f"chargeback_by_{name}_seconds"] = time.perf_counter() - started
        assert rows
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    started = time.perf_counter()
    response = client.get("/admin/metering/usagerecord/spend/", {"month": month_start.strftime("%Y-%m")})
    results["spend_page_seconds"] = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    budget = BudgetScope(budget_id=0, name="use_case", id=tenants[0].pk, limit_nanos=0, hard=True, thresholds=())
    started = time.perf_counter()
    budget_spend_rebuild(budget, month_start.strftime("%Y-%m"))
    results["rebuild_seconds"] = time.perf_counter() - started
    results["report_seconds"] = max(
        results["chargeback_by_lob_seconds"],
        results["chargeback_by_use_case_seconds"],
        results["chargeback_by_model_seconds"],
        results["spend_page_seconds"],
    )
    for name, value in results.items():
        print(f"{name}: {value:.3f}", flush=True)
    return results


def _verify(count: int) -> float:
    from genai_platform.audit.services import audit_verify

    _audit_chain(count, dt.datetime.now(dt.UTC))
    started = time.perf_counter()
    problems = audit_verify()
    elapsed = time.perf_counter() - started
    assert problems == [], problems
    print(f"audit verify: {count:,} events in {elapsed:.1f} s", flush=True)
    return count / elapsed


def _archive(count: int) -> dict[str, float]:
    """`count` events of one chain in the month four months back, archived (export, read back and
    verify, detach, drop), then the archive verified again from its manifest, as `audit verify
    --archive` does."""
    import tempfile

    from genai_platform.audit.archive import archive_verify, partition_archive
    from genai_platform.audit.partitions import AUDIT_TABLE
    from genai_platform.audit.services import audit_verify
    from genai_platform.metering.partitions import ledger_partitions_ensure
    from genai_platform.partitioning import Month

    month = Month.of(dt.datetime.now(dt.UTC)).plus(-4)
    ledger_partitions_ensure(since=month.start.date())
    _audit_chain(count, month.start + dt.timedelta(days=2))
    directory = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    started = time.perf_counter()
    archive = partition_archive(table=AUDIT_TABLE, month=month, directory=directory)
    archived = time.perf_counter() - started
    started = time.perf_counter()
    problems = archive_verify(directory / AUDIT_TABLE / f"{archive.partition}.manifest.json")
    verified = time.perf_counter() - started
    assert problems == [] and audit_verify() == [], problems
    ledger_partitions_ensure(since=month.start.date())  # the month back, for the next run
    print(f"archive: {count:,} events exported, verified, detached and dropped in {archived:.1f} s", flush=True)
    print(f"archive verify: {count:,} events in {verified:.1f} s", flush=True)
    return {"archive_events_per_s": count / archived, "archive_verify_events_per_s": count / verified}


def _audit_chain(count: int, when: dt.datetime) -> None:
    """`count` events of the chain bench-lob-0 at `when` (hashes chained in memory, COPY), and its head."""
    from genai_platform.audit.chain import GENESIS, event_hash
    from genai_platform.audit.models import AuditChainHead, AuditEvent
    from genai_platform.dbcopy import bulk_insert

    columns = (
        "chain",
        "sequence",
        "occurred_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "lob_slug",
        "before",
        "after",
        "request_id",
        "prev_hash",
        "hash",
    )
    started = time.perf_counter()
    previous, now = GENESIS, when
    with transaction.atomic():
        for chunk_start in range(0, count, 50_000):
            rows = []
            for sequence in range(chunk_start + 1, min(count, chunk_start + 50_000) + 1):
                after = {"status": "success", "cost": "0.00028", "capture": {"level": "none"}}
                event = {
                    "chain": "bench-lob-0",
                    "sequence": sequence,
                    "occurred_at": now,
                    "actor": "key:bench",
                    "action": "inference.chat",
                    "object_type": "metering.usagerecord",
                    "object_id": f"req_{sequence}",
                    "lob_slug": "bench-lob-0",
                    "before": None,
                    "after": after,
                    "request_id": f"req_{sequence}",
                    "prev_hash": previous,
                }
                previous = event["hash"] = event_hash(event)
                rows.append(
                    [*(event[c] for c in columns[:8]), None, json.dumps(after), *(event[c] for c in columns[10:])]
                )
            bulk_insert(AuditEvent._meta.db_table, columns, rows)
        AuditChainHead.objects.create(chain="bench-lob-0", sequence=count, hash=previous, last_at=now)
    print(f"audit log: {count:,} events written in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
