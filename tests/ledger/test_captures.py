"""A call's usage is buffered at once; its redacted prompt capture follows from the calling process's
redaction pool as an entry of its own. Billing and audit never wait for, or depend on, the capture
(real PostgreSQL and Redis)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_verify
from genai_platform.ledger import capturing, services
from genai_platform.ledger.capturing import SKIPPED, CapturePool, captures_wait
from genai_platform.ledger.services import usage_flush, usage_record, usage_records_write
from genai_platform.metering.ledger import usage_buffer
from genai_platform.metering.models import DeadLetterUsage, UsageRecord
from governance import capture
from governance.capture import REDACTED, capture_finalize, capture_for_buffer, capture_pending
from governance.models import CapturedExchange
from tests import factories
from tests.factories import LobFactory, UseCaseFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
PROMPT = "user: Email jane.doe@example.com about card 4111 1111 1111 1111"


def usage_event(use_case, *, capture: bool = True) -> dict:
    """A buffered usage event as the inference core hands it over, with a `redacted` capture."""
    event = factories.usage_event(use_case)
    if capture:
        event["capture"] = capture_for_buffer(REDACTED, PROMPT, "Done, jane.doe@example.com.")
    return event


def capture_entry(event: dict, **capture) -> dict:
    """The entry the redaction pool buffers for `event`."""
    finalized = capture_finalize(event["capture"]) | capture
    return {
        "kind": "capture",
        "request_id": event["request_id"],
        "lob_id": event["lob_id"],
        "use_case_id": event["use_case_id"],
        "lob_slug": event["lob_slug"],
        "captured_at": event["occurred_at"],
        "capture": finalized,
    }


def buffered(event: dict) -> dict:
    """`event` as `usage_record` buffers it: the capture's digests, its redaction pending."""
    return {**event, "capture": capture_pending(event["capture"], redaction="pending")}


@pytest.fixture
def held_redaction(monkeypatch):
    """Redaction in the pool waits until the test sets the returned event."""
    release = threading.Event()
    redact = capture._redact

    def held(text):
        release.wait(timeout=60)
        return redact(text)

    monkeypatch.setattr(capture, "_redact", held)
    yield release
    release.set()
    assert captures_wait(timeout=30)


def test_the_usage_record_is_buffered_and_billed_while_its_redaction_is_still_held(held_redaction):
    use_case = UseCaseFactory(lob=LobFactory(slug="retail"))
    event = usage_event(use_case)

    usage_record(event)
    usage_flush(consumer="test")

    record = UsageRecord.objects.get(request_id=event["request_id"])
    audited = AuditEvent.objects.get(action="inference.chat", request_id=record.request_id)
    assert audited.after["capture"]["redaction"] == "pending"
    assert "jane.doe" not in json.dumps(audited.after)
    assert not CapturedExchange.objects.exists()


def test_a_capture_arriving_after_its_usage_row_was_flushed_is_written_and_audited(held_redaction):
    use_case = UseCaseFactory(lob=LobFactory(slug="retail"))
    event = usage_event(use_case)
    usage_record(event)
    usage_flush(consumer="test")

    held_redaction.set()
    assert captures_wait(timeout=30)
    usage_flush(consumer="test")

    exchange = CapturedExchange.objects.get(request_id=event["request_id"])
    assert "jane.doe@example.com" not in exchange.prompt and "<EMAIL_1>" in exchange.prompt
    calls = AuditEvent.objects.filter(chain="retail", action__startswith="inference.").order_by("sequence")
    actions = list(calls.values_list("action", flat=True))
    assert actions == ["inference.chat", "inference.capture"]
    assert audit_verify() == []


def test_the_same_capture_twice_is_one_row_and_one_audit_event():
    use_case = UseCaseFactory()
    event = usage_event(use_case)
    entry = capture_entry(event)

    assert usage_records_write([buffered(event), entry, entry]) == 1
    usage_records_write([entry])  # replayed after a crash, in a later batch

    assert CapturedExchange.objects.filter(request_id=event["request_id"]).count() == 1
    assert AuditEvent.objects.filter(action="inference.capture", request_id=event["request_id"]).count() == 1


def test_a_capture_without_its_usage_row_in_the_batch_is_written_alone():
    use_case = UseCaseFactory()
    event = usage_event(use_case)

    usage_records_write([capture_entry(event)])

    assert CapturedExchange.objects.filter(request_id=event["request_id"]).exists()
    assert not UsageRecord.objects.exists()


def test_a_process_killed_before_redacting_loses_only_the_capture_never_the_usage_or_its_audit_event():
    use_case = UseCaseFactory(lob=LobFactory(slug="retail"))
    event = usage_event(use_case)
    # The gateway process: records the call, its redaction never finishes, then it is killed (-9).
    code = (
        "import django, json, os, signal, sys, threading\ndjango.setup()\n"
        "from genai_platform.ledger import services\n"
        "services.capture_finalize = lambda buffered: threading.Event().wait()\n"
        "services.usage_record(json.loads(sys.argv[1]))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "genai_platform.settings"}
    killed = subprocess.run(
        [sys.executable, "-c", code, json.dumps(event)], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    usage_flush(consumer="test")

    assert UsageRecord.objects.filter(request_id=event["request_id"]).exists()
    audited = AuditEvent.objects.get(action="inference.chat", request_id=event["request_id"])
    assert audited.after["capture"]["redaction"] == "pending"
    assert not CapturedExchange.objects.exists()
    assert audit_verify() == []


def test_a_poison_capture_is_set_aside_without_stopping_the_usage_of_the_same_call():
    use_case = UseCaseFactory(lob=LobFactory(slug="retail"))
    event, other = usage_event(use_case), usage_event(use_case)
    poison = capture_entry(event, prompt="a\u0000b")  # PostgreSQL text cannot hold NUL
    for entry in (buffered(event), poison, buffered(other), capture_entry(other)):
        usage_buffer().append(entry)

    usage_flush(consumer="test")

    assert UsageRecord.objects.count() == 2
    [letter] = DeadLetterUsage.objects.all()
    assert letter.request_id == event["request_id"] and json.loads(letter.event)["kind"] == "capture"
    assert list(CapturedExchange.objects.values_list("request_id", flat=True)) == [other["request_id"]]
    assert usage_buffer().backlog() == 0
    assert audit_verify() == []


def test_a_full_redaction_pool_keeps_digests_only_counts_it_and_never_blocks_the_caller(monkeypatch):
    use_case = UseCaseFactory()
    release = threading.Event()
    pool = CapturePool(threads=1, bound=1)
    monkeypatch.setattr(services, "capture_pool", lambda: pool)
    monkeypatch.setattr(services, "capture_finalize", lambda buffered: release.wait(60) and {})
    skipped = SKIPPED._value.get()
    first, second = usage_event(use_case), usage_event(use_case)

    try:
        usage_record(first)  # takes the pool's one place and holds it
        usage_record(second)  # returns at once: no place left
    finally:
        release.set()
        assert pool.wait(timeout=30)

    assert SKIPPED._value.get() == skipped + 1
    buffered = {e["request_id"]: e for e in usage_buffer().entries() if e.get("kind", "usage") == "usage"}
    assert buffered[first["request_id"]]["capture"]["redaction"] == "pending"
    assert buffered[second["request_id"]]["capture"]["redaction"] == "skipped"
    assert set(buffered[second["request_id"]]["capture"]) == {"level", "redaction", "prompt_sha256", "output_sha256"}


def test_a_process_that_never_captured_has_nothing_to_wait_for(monkeypatch):
    monkeypatch.setattr(capturing, "_pools", {})

    assert captures_wait(timeout=0)


def test_a_call_whose_usage_could_not_be_buffered_gives_its_pool_place_back(monkeypatch):
    pool = CapturePool(threads=1, bound=1)
    monkeypatch.setattr(services, "capture_pool", lambda: pool)

    def redis_down(event: dict, **_: object) -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(usage_buffer(), "append", redis_down)

    with pytest.raises(ConnectionError):
        usage_record(usage_event(UseCaseFactory()))

    assert pool.reserve()  # the one place is free again


@pytest.mark.parametrize("signal_name", ["worker_shutdown", "worker_process_shutdown"])
def test_a_celery_worker_stopping_waits_for_its_captures(monkeypatch, signal_name):
    from celery import signals

    import genai_platform.celery  # noqa: F401 - connects the worker's signal handlers

    waited = []
    monkeypatch.setattr(capturing, "captures_wait", lambda: waited.append(True) or True)

    getattr(signals, signal_name).send(sender=None)

    assert waited == [True]
