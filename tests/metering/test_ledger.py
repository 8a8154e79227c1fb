"""The ledger's flusher: batches that stay tamper-evident, a poison record set aside without stopping
the others, two flushers draining one stream (a shard each at a time, chains in order), and usage
and budgets that survive losing Redis (real PostgreSQL and Redis)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test import Client, TestCase

from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_verify
from genai_platform.ledger.services import usage_flush, usage_record
from genai_platform.metering import services
from genai_platform.metering.ledger import RedisStreamBuffer, shard_of, usage_buffer
from genai_platform.metering.metrics import DEAD_LETTERS
from genai_platform.metering.models import DeadLetterUsage, UsageDailyRollup, UsageRecord
from tests.factories import AliasFactory, DeploymentFactory, LobFactory, UseCaseFactory, issue_key, usage_event

CLIENT = Client()


def chain_request_ids(chain: str) -> list[str]:
    events = AuditEvent.objects.filter(chain=chain, action="inference.chat").order_by("sequence")
    return list(events.values_list("request_id", flat=True))


@pytest.mark.django_db
def test_a_batch_writes_each_record_its_audit_event_and_its_days_rollup_and_the_chains_verify():
    retail, wealth = UseCaseFactory(lob=LobFactory(slug="retail")), UseCaseFactory(lob=LobFactory(slug="wealth"))
    events = [usage_event(retail if i % 3 else wealth) for i in range(30)]
    for event in events:
        usage_record(event)

    assert usage_flush(consumer="test", batch_size=7) == 30

    assert UsageRecord.objects.count() == 30
    assert chain_request_ids("retail") == [e["request_id"] for e in events if e["lob_id"] == retail.lob_id]
    assert chain_request_ids("wealth") == [e["request_id"] for e in events if e["lob_id"] == wealth.lob_id]
    [rollup] = UsageDailyRollup.objects.filter(use_case=retail)
    assert (rollup.requests, rollup.input_tokens, rollup.cost) == (20, 200, Decimal("0.0020000000"))
    assert audit_verify() == []


@pytest.mark.django_db
def test_a_poison_record_is_set_aside_counted_and_alerted_while_both_lobs_records_are_flushed(settings):
    settings.LEDGER_ALERT_EMAILS = "ledger-oncall@example.com"
    retail, wealth = UseCaseFactory(lob=LobFactory(slug="retail")), UseCaseFactory(lob=LobFactory(slug="wealth"))
    good = [usage_event(retail), usage_event(wealth), usage_event(retail)]
    poison = usage_event(wealth, end_user="a\u0000b")  # PostgreSQL text cannot hold NUL
    for event in [good[0], poison, good[1], good[2]]:
        usage_record(event)
    dead_before = DEAD_LETTERS._value.get()

    with TestCase.captureOnCommitCallbacks(execute=True):
        usage_flush(consumer="test")

    assert set(UsageRecord.objects.values_list("request_id", flat=True)) == {e["request_id"] for e in good}
    [letter] = DeadLetterUsage.objects.all()
    assert letter.request_id == poison["request_id"] and "NUL" in letter.error
    assert json.loads(letter.event)["end_user"] == "a\u0000b"  # kept whole, to fix and replay
    assert DEAD_LETTERS._value.get() == dead_before + 1
    assert mail.outbox[0].to == ["ledger-oncall@example.com"] and poison["request_id"] in mail.outbox[0].subject
    assert usage_buffer().backlog() == 0  # nothing stuck behind it
    assert chain_request_ids("retail") == [good[0]["request_id"], good[2]["request_id"]]
    assert audit_verify() == []


@pytest.mark.django_db
def test_a_record_whose_tenant_is_gone_is_set_aside_too():
    use_case = UseCaseFactory()
    orphan = usage_event(use_case, use_case_id=use_case.pk + 10_000)
    fine = usage_event(use_case)
    usage_record(orphan)
    usage_record(fine)

    usage_flush(consumer="test")

    assert list(UsageRecord.objects.values_list("request_id", flat=True)) == [fine["request_id"]]
    assert DeadLetterUsage.objects.get().request_id == orphan["request_id"]


@pytest.mark.django_db(transaction=True)
def test_two_flushers_draining_one_stream_write_every_record_once_and_every_chain_in_order():
    lobs = [UseCaseFactory(lob=LobFactory(slug=slug)) for slug in ("retail", "wealth", "markets")]
    events = [usage_event(lobs[i % 3]) for i in range(600)]
    for event in events:
        usage_record(event)
    usage_buffer().ensure_group()
    start = threading.Barrier(2)

    def flusher(name: str) -> None:
        start.wait()
        try:
            while usage_flush(consumer=name, batch_size=40, max_batches=1):
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=flusher, args=(name,)) for name in ("flusher-a", "flusher-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recorded = list(UsageRecord.objects.values_list("request_id", flat=True))
    assert sorted(recorded) == sorted(e["request_id"] for e in events)
    audited = list(AuditEvent.objects.filter(action="inference.chat").values_list("request_id", flat=True))
    assert sorted(audited) == sorted(recorded)  # every record's event, exactly once
    for use_case in lobs:
        sequences = list(
            AuditEvent.objects.filter(chain=use_case.lob.slug).order_by("sequence").values_list("sequence", flat=True)
        )
        assert sequences == list(range(1, len(sequences) + 1))  # no gap, no position twice
        buffered = [e["request_id"] for e in events if e["lob_id"] == use_case.lob_id]
        assert chain_request_ids(use_case.lob.slug) == buffered  # in the order the gateway buffered them
    assert audit_verify() == []


def test_a_chains_events_share_one_shard_and_a_shard_has_one_flusher_at_a_time(settings):
    settings.METERING_SHARDS = 4
    buffer = usage_buffer()
    assert isinstance(buffer, RedisStreamBuffer)
    assert {shard_of("retail", 4) for _ in range(3)} == {shard_of("retail", 4)}
    assert {shard_of(f"lob-{n}", 4) for n in range(20)} == {0, 1, 2, 3}  # chains spread over every shard

    assert buffer.shard_lease(2, "flusher-a")
    assert not buffer.shard_lease(2, "flusher-b")
    buffer.shard_release(2, "flusher-b")  # not its lease: nothing happens
    assert not buffer.shard_lease(2, "flusher-b")
    assert buffer.shard_lease(3, "flusher-b")
    buffer.shard_release(2, "flusher-a")
    assert buffer.shard_lease(2, "flusher-b")


@pytest.mark.django_db
def test_a_flusher_leaves_a_shard_another_flusher_holds_and_takes_the_others():
    retail, wealth = UseCaseFactory(lob=LobFactory(slug="retail")), UseCaseFactory(lob=LobFactory(slug="markets"))
    for use_case in (retail, wealth, retail):
        usage_record(usage_event(use_case))
    buffer = usage_buffer()
    busy = shard_of("retail", buffer.shards)
    assert busy != shard_of("markets", buffer.shards)
    assert buffer.shard_lease(busy, "another-flusher")

    assert usage_flush(consumer="test") == 1

    assert list(UsageRecord.objects.values_list("lob__slug", flat=True)) == ["markets"]
    buffer.shard_release(busy, "another-flusher")
    assert usage_flush(consumer="test") == 2


@pytest.mark.django_db(transaction=True)
def test_tampering_with_a_chain_written_by_concurrent_flushers_is_detected():
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
    victim = AuditEvent.objects.get(chain="retail", sequence=17)

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_append_only")
        cursor.execute("UPDATE governance_auditevent SET actor = 'mallory' WHERE id = %s", [victim.pk])
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER governance_auditevent_append_only")

    [problem] = audit_verify()
    assert f"event {victim.pk}" in str(problem) and "does not match its hash" in str(problem)


# ---- losing Redis ----


@pytest.fixture
def use_case():
    deployment = DeploymentFactory(input_price_per_million=Decimal("1"), output_price_per_million=Decimal("2"))
    return UseCaseFactory(aliases=[AliasFactory(name="metered", deployments=[deployment])])


@pytest.fixture
def key(use_case):
    return issue_key(use_case)[1]


def call(key: str, **extra):
    body = {"model": "metered", "messages": [{"role": "user", "content": "count me"}], **extra}
    return CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def redis_flushdb() -> None:
    buffer = usage_buffer()
    assert isinstance(buffer, RedisStreamBuffer)
    buffer._redis.flushdb()


@pytest.mark.django_db
def test_calls_answered_before_redis_lost_its_data_all_reach_the_ledger(key):
    answered = [call(key)["x-request-id"] for _ in range(5)]
    usage_flush(consumer="test")
    answered += [call(key)["x-request-id"] for _ in range(7)]  # still buffered when Redis is lost

    redis_flushdb()
    answered.append(call(key)["x-request-id"])  # this process notices the new epoch and replays its spool
    usage_flush(consumer="test")

    assert sorted(UsageRecord.objects.values_list("request_id", flat=True)) == sorted(answered)
    assert AuditEvent.objects.filter(action="inference.chat").count() == len(answered)
    assert audit_verify() == []


@pytest.mark.django_db
def test_a_budget_counter_lost_with_redis_is_rebuilt_from_the_ledger_and_the_buffer_before_admitting(key, use_case):
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.001"))
    # Each call reserves up to 0.0002 USD (100 output tokens) and spends a fraction of it.
    admitted_before = 0
    while call(key, max_tokens=100).status_code == 200:
        admitted_before += 1
        if admitted_before == 3:
            usage_flush(consumer="test")  # some in the ledger, the rest only buffered

    redis_flushdb()
    admitted_after = sum(call(key, max_tokens=100).status_code == 200 for _ in range(admitted_before + 5))
    usage_flush(consumer="test")

    spent = sum(UsageRecord.objects.values_list("cost", flat=True))
    assert admitted_after == 0  # the rebuilt counter knows what was spent, flushed or not
    assert spent <= Decimal("0.001")


@pytest.mark.django_db
def test_until_the_counter_can_be_rebuilt_budgeted_calls_are_refused(key, use_case, monkeypatch):
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.budget_set(use_case=use_case, monthly_limit_usd=Decimal("1"))
    redis_flushdb()

    def ledger_unreachable(*args, **kwargs):
        raise ConnectionError("database unavailable")

    monkeypatch.setattr(services, "spend_in_month", ledger_unreachable)
    refused = call(key, max_tokens=100)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "budget_unavailable"
    assert refused["Retry-After"] == "5"


@pytest.mark.django_db
def test_a_backlog_over_its_bound_degrades_readyz_and_shows_in_the_metrics(settings):
    settings.METERING_BACKLOG_LIMIT = 3
    use_case = UseCaseFactory()
    for _ in range(4):
        usage_record(usage_event(use_case))

    ready = CLIENT.get("/readyz")
    metrics = CLIENT.get("/metrics").content.decode()

    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert "usage backlog: 4 records" in ready.json()["warnings"][0]
    assert "genai_ledger_backlog 4.0" in metrics and "genai_ledger_backlog_limit 3.0" in metrics
    usage_flush(consumer="test")
    assert CLIENT.get("/readyz").json()["status"] == "ok"
