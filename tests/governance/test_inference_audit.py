"""Every inference call leaves an audit event in its LOB's chain, with the prompt captured as the
use case's approval says: none, hashed, redacted or full."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.test import Client

from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_verify
from genai_platform.ledger.capturing import captures_wait
from genai_platform.ledger.services import usage_flush
from genai_platform.metering.ledger import usage_buffer
from governance.models import CapturedExchange
from tests.factories import AliasFactory, UseCaseFactory, approve, issue_key

pytestmark = pytest.mark.django_db
CLIENT = Client()
SECRET_PROMPT = "Email jane.doe@example.com about card 4111 1111 1111 1111"


def key_with_capture(level: str):
    use_case = UseCaseFactory(aliases=[AliasFactory(name="chat")])
    approve(use_case, prompt_capture=level)
    return use_case, issue_key(use_case)[1]


def ask(key: str):
    body = {"model": "chat", "messages": [{"role": "user", "content": SECRET_PROMPT}]}
    response = CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    assert captures_wait(timeout=30)  # a redacted capture is redacted after the answer, then buffered
    usage_flush(consumer="test")
    return response


def inference_event(response) -> AuditEvent:
    return AuditEvent.objects.get(action="inference.chat", request_id=response["x-request-id"])


def test_each_call_is_audited_in_its_lobs_chain_and_the_chain_verifies():
    use_case, key = key_with_capture("none")

    response = ask(key)

    event = inference_event(response)
    assert event.chain == use_case.lob.slug
    assert event.after["status"] == "success" and event.after["capture"] == {"level": "none"}
    assert not CapturedExchange.objects.exists()
    assert audit_verify() == []


def test_hashed_capture_keeps_only_digests():
    _, key = key_with_capture("hashed")

    event = inference_event(ask(key))

    expected = hashlib.sha256(f"user: {SECRET_PROMPT}".encode()).hexdigest()
    assert event.after["capture"]["prompt_sha256"] == expected
    assert not CapturedExchange.objects.exists()
    assert "jane.doe" not in json.dumps(event.after)


def test_redacted_capture_masks_personal_data_before_keeping_the_exchange():
    _, key = key_with_capture("redacted")

    response = ask(key)

    exchange = CapturedExchange.objects.get(request_id=response["x-request-id"])
    assert "jane.doe@example.com" not in exchange.prompt and "<EMAIL_1>" in exchange.prompt
    assert "4111" not in exchange.output
    capture_event = AuditEvent.objects.get(action="inference.capture", request_id=response["x-request-id"])
    assert capture_event.after["prompt_sha256"] == hashlib.sha256(exchange.prompt.encode()).hexdigest()
    assert "jane.doe" not in json.dumps(capture_event.after)
    assert audit_verify() == []


def test_a_redacted_calls_usage_event_keeps_digests_of_what_was_said_and_no_text():
    _, key = key_with_capture("redacted")

    event = inference_event(ask(key))

    said = hashlib.sha256(f"user: {SECRET_PROMPT}".encode()).hexdigest()
    assert event.after["capture"] == {
        "level": "redacted",
        "redaction": "pending",
        "prompt_sha256": said,
        "output_sha256": event.after["capture"]["output_sha256"],
    }
    assert "jane.doe" not in json.dumps(event.after)


def test_full_capture_keeps_the_texts_as_lob_data_outside_the_audit_log():
    _, key = key_with_capture("full")

    response = ask(key)

    exchange = CapturedExchange.objects.get(request_id=response["x-request-id"])
    assert SECRET_PROMPT in exchange.prompt and SECRET_PROMPT in exchange.output
    assert "jane.doe" not in json.dumps(inference_event(response).after)


def test_a_replayed_buffer_entry_adds_no_second_audit_event_or_capture():
    _, key = key_with_capture("full")
    body = {"model": "chat", "messages": [{"role": "user", "content": SECRET_PROMPT}]}
    response = CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    buffer = usage_buffer()
    [(_, event)] = buffer.read_batch(consumer="crashed", count=10, claim_idle_ms=60_000)
    buffer.append(event)  # the same call, buffered twice

    usage_flush(consumer="test", claim_idle_ms=0)

    assert AuditEvent.objects.filter(request_id=response["x-request-id"]).count() == 1
    assert CapturedExchange.objects.filter(request_id=response["x-request-id"]).count() == 1
