"""Prompt captures at the `redacted` level: every type the redaction policy lists is masked, and a
flush batch redacts each distinct text once without changing what is stored."""

import dataclasses
import json
import re
from pathlib import Path
from unittest import mock

import pytest

from governance import capture
from governance.capture import REDACTED, capture_finalize, capture_for_buffer, capture_redaction_batch
from governance.guardrails import evaluate
from governance.guardrails.policy import PII_ENTITIES, Check, Direction, GuardrailPolicy

# One value per entity type of the redaction policy, and secrets of three detector layers.
VALUES = {
    "CREDIT_CARD": "4111 1111 1111 1111",
    "EMAIL_ADDRESS": "jane.doe@example.com",
    "IBAN_CODE": "GB82 WEST 1234 5698 7654 32",
    "IP_ADDRESS": "10.20.30.40",
    "PHONE_NUMBER": "+44 20 7946 0958",
    "US_SSN": "536-22-8412",
    "GITHUB_TOKEN": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "SECRET_KEYWORD": "Hunter2xyz!",
    "DATABASE_CONNECTION_STRING": "postgres://app:s3cretPw@db.internal:5432/sales",
}
TEXT = (
    "Card {CREDIT_CARD}, mail {EMAIL_ADDRESS}, IBAN {IBAN_CODE}, host {IP_ADDRESS}, phone {PHONE_NUMBER}, "
    "SSN {US_SSN}, token {GITHUB_TOKEN}, password: {SECRET_KEYWORD}\ndsn {DATABASE_CONNECTION_STRING}"
).format(**VALUES)


def test_the_redaction_policy_lists_every_structured_identifier_and_secrets():
    policy = capture._redaction_policy()

    assert set(policy.rule(Check.PII, Direction.INPUT).entities) == set(PII_ENTITIES)
    assert policy.rule(Check.SECRETS, Direction.INPUT) is not None


@pytest.mark.parametrize("field", ["prompt", "output"])
def test_a_redacted_capture_masks_every_listed_type(field):
    stored = capture_finalize({"level": REDACTED, "prompt": TEXT, "output": TEXT})

    for value in VALUES.values():
        assert value not in stored[field]
    assert stored[field].startswith("Card <CREDIT_CARD_1>, mail <EMAIL_1>")
    assert stored[f"{field}_sha256"] == capture.digest(stored[field])


def test_a_batch_redacts_a_repeated_text_once_and_stores_the_same_result():
    buffered = {"level": REDACTED, "prompt": TEXT, "output": "Mail ann@example.org"}
    alone = capture_finalize(buffered)
    spy = mock.patch.object(capture, "_redaction_policy", wraps=capture._redaction_policy)
    with spy as policy, capture_redaction_batch():
        stored = [capture_finalize(buffered) for _ in range(2)]

    assert stored == [alone, alone]
    assert policy.call_count == 2  # two distinct texts, four captured


def test_nothing_is_remembered_after_the_batch():
    with capture_redaction_batch():
        capture_finalize({"level": REDACTED, "prompt": TEXT, "output": ""})

    with mock.patch.object(capture, "_redaction_policy", wraps=capture._redaction_policy) as policy:
        capture_finalize({"level": REDACTED, "prompt": TEXT, "output": ""})

    assert policy.call_count == 1


# --- what the call's guardrails already masked is kept, the rest is redacted in the flusher ---------
COVERING = GuardrailPolicy.from_dict(
    {
        "name": "baseline",
        "scope": "central",
        "rules": [
            {"check": "pii", "direction": "input", "action": "mask", "entities": [*PII_ENTITIES, "PERSON"]},
            {"check": "secrets", "direction": "input", "action": "block"},
            {"check": "pii", "direction": "output", "action": "mask", "entities": list(PII_ENTITIES)},
            {"check": "secrets", "direction": "output", "action": "mask"},
        ],
    }
)


def _masked(text: str, direction: str = "input") -> str:
    result = evaluate(text, COVERING, direction)
    assert capture.redaction_covered(COVERING, Direction(direction), result)
    return result.text


def _scanned(monkeypatch) -> list[str]:
    """The texts the flusher redacts from now on."""
    seen: list[str] = []
    redact = capture._redact
    monkeypatch.setattr(capture, "_redact", lambda text: seen.append(text) or redact(text))
    return seen


def test_a_capture_keeps_the_messages_the_call_masked_and_redacts_only_the_other_lines(monkeypatch):
    user = _masked("Mail jane.doe@example.com about card 4111 1111 1111 1111")
    answer = _masked("I wrote to jane.doe@example.com.", "output")
    transcript = f"system: Forward complaints to ann@example.org.\nuser: {user}"
    scanned = _scanned(monkeypatch)

    buffered = capture_for_buffer(REDACTED, transcript, answer, redacted={user, answer})
    stored = capture_finalize(buffered)

    assert scanned == ["system: Forward complaints to ann@example.org.\nuser: "]
    assert stored["prompt"] == f"system: Forward complaints to <EMAIL_1>.\nuser: {user}"
    assert stored["output"] == answer == "I wrote to <EMAIL_1>."
    assert "jane.doe" not in json.dumps(buffered) and "4111" not in json.dumps(buffered)


def test_a_masked_text_counts_only_where_it_fills_a_message_line():
    done = "call me"
    transcript = "system: please call me at +44 20 7946 0958\nuser: call me"
    scanned_parts = capture_for_buffer(REDACTED, transcript, "", redacted={done})["prompt_parts"]

    assert scanned_parts == [["system: please call me at +44 20 7946 0958\nuser: ", False], ["call me", True]]
    assert (
        "7946" not in capture_finalize({"level": REDACTED, "prompt_parts": scanned_parts, "output_parts": []})["prompt"]
    )


@pytest.mark.parametrize(
    ("change", "covered"),
    [
        ({}, True),
        ({"entities": ["EMAIL_ADDRESS"]}, False),  # not every redacted type
        ({"threshold": 0.8}, False),  # looser than the redaction policy
        ({"action": "flag"}, False),  # found but not masked
    ],
)
def test_a_result_is_a_redacted_capture_only_under_rules_that_mask_what_redaction_masks(change, covered):
    rules = [dict(rule.to_dict()) for rule in COVERING.rules]
    rules[0].update(change)
    policy = GuardrailPolicy.from_dict({"name": "p", "scope": "central", "rules": rules})

    result = evaluate("Mail jane.doe@example.com", policy, "input")

    assert capture.redaction_covered(policy, Direction.INPUT, result) is covered


def test_a_result_whose_checks_did_not_all_run_is_not_a_redacted_capture():
    without_secrets = GuardrailPolicy.from_dict(
        {"name": "p", "scope": "central", "rules": [COVERING.rules[0].to_dict()]}
    )
    result = evaluate("Mail jane.doe@example.com", without_secrets, "input")
    assert not capture.redaction_covered(without_secrets, Direction.INPUT, result)

    failed = evaluate("Mail jane.doe@example.com", COVERING, "input")
    broken = dataclasses.replace(
        failed, outcomes=tuple(dataclasses.replace(o, error="RuntimeError") for o in failed.outcomes)
    )
    assert not capture.redaction_covered(COVERING, Direction.INPUT, broken)


PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*_\d+")


def _labelled_positives() -> list[str]:
    root = Path(__file__).resolve().parents[2] / "benchmarks" / "guardrails"
    texts = []
    for name in ("eval_set.jsonl", "personal_context_set.jsonl"):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            structured = item["check"] == "pii" and item.get("entity") in PII_ENTITIES
            if item["label"] and (structured or item["check"] == "secrets"):
                texts.append(item["text"])
    return texts


def test_no_redacted_capture_holds_a_labelled_identifier_or_secret_whichever_part_carried_it():
    """Every labelled structured identifier and secret, once in a line the call masked and once in
    a line only the flusher reads: the stored capture has nothing the redaction policy finds."""
    redaction = capture._redaction_policy()
    texts = _labelled_positives()
    assert len(texts) > 150
    leaks = []
    with capture_redaction_batch():
        for text in texts:
            if evaluate(text, COVERING, "input").blocked:  # a secret in a prompt blocks the call: nothing captured
                user = _masked(text.replace("\n", " "), "output")
            else:
                user = _masked(text.replace("\n", " "))
            transcript = f"system: {text}\nuser: {user}"
            stored = capture_finalize(capture_for_buffer(REDACTED, transcript, user, redacted={user}))
            for field in ("prompt", "output"):
                stored_text = stored[field]
                found = [
                    stored_text[f.start : f.end]
                    for o in evaluate(stored_text, redaction, "input").outcomes
                    for f in o.findings
                ]
                # A placeholder after a credential word reads as a token to the entropy check: not a leak.
                leaked = [value for value in found if not PLACEHOLDER.fullmatch(value.strip("<>"))]
                if leaked:
                    leaks.append((text, field, leaked))
    assert leaks == []


@pytest.mark.django_db
def test_through_the_gateway_the_flusher_redacts_only_what_the_calls_guardrails_did_not(monkeypatch):
    from django.test import Client, TestCase

    from genai_platform.ledger.capturing import captures_wait
    from genai_platform.ledger.services import usage_flush
    from governance.models import CapturedExchange
    from governance.services.guardrail_policies import central_baseline_install
    from tests.factories import AliasFactory, UseCaseFactory, approve, issue_key

    with TestCase.captureOnCommitCallbacks(execute=True):
        central_baseline_install(actor="platform")
    use_case = UseCaseFactory(aliases=[AliasFactory(name="chat")])
    approve(use_case, prompt_capture="redacted")
    key = issue_key(use_case)[1]
    messages = [
        {"role": "system", "content": "Escalate to ann@example.org."},
        {"role": "user", "content": "Mail jane.doe@example.com about card 4111 1111 1111 1111"},
    ]
    scanned = _scanned(monkeypatch)

    response = Client().post(
        "/v1/chat/completions",
        data=json.dumps({"model": "chat", "messages": messages}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    assert captures_wait(timeout=30)  # redacted after the answer, in this process's redaction pool
    usage_flush(consumer="test")

    exchange = CapturedExchange.objects.get(request_id=response["x-request-id"])
    assert scanned == ["system: Escalate to ann@example.org.\nuser: "]  # the user line and the answer were done
    for value in ("ann@example.org", "jane.doe@example.com", "4111"):
        assert value not in exchange.prompt and value not in exchange.output
    assert exchange.prompt.startswith("system: Escalate to <EMAIL_1>.\nuser: Mail <EMAIL_1> about card <CREDIT_CARD_1>")
