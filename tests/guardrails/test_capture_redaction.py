"""Prompt captures at the `redacted` level: every type the redaction policy lists is masked, and a
flush batch redacts each distinct text once without changing what is stored."""

from unittest import mock

import pytest

from governance import capture
from governance.capture import REDACTED, capture_finalize, capture_redaction_batch
from governance.guardrails.policy import PII_ENTITIES, Check, Direction

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
