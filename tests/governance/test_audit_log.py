"""The audit log: hash-chained per tenant, append-only on PostgreSQL, verifiable, exportable, checkpointed."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from genai_platform.audit.chain import event_hash, event_hash_of_texts, json_text
from genai_platform.audit.models import AuditEvent
from genai_platform.audit.services import audit_checkpoint, audit_record, audit_verify
from tests.factories import LobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def signing_key(settings):
    key = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    settings.AUDIT_SIGNING_KEY = base64.b64encode(key).decode()


def record(n: int, lob_slug: str = "retail") -> list[AuditEvent]:
    lob = LobFactory(slug=lob_slug) if lob_slug else LobFactory()
    with transaction.atomic():
        return [
            audit_record(actor=f"user{i}", action="use_case.updated", target=lob, lob_slug=lob_slug, after={"i": i})
            for i in range(n)
        ]


def tamper(sql: str, params: list) -> None:
    """Writes past the append-only trigger, as an attacker with the table owner's rights could."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE governance_auditevent DISABLE TRIGGER governance_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE governance_auditevent ENABLE TRIGGER governance_auditevent_append_only")


def first_problem() -> str:
    [problem] = audit_verify()
    return str(problem)


def test_each_tenant_has_its_own_chain_linked_by_hashes():
    retail = record(3, "retail")
    wealth = record(2, "wealth")

    assert [e.sequence for e in retail] == [1, 2, 3] and [e.sequence for e in wealth] == [1, 2]
    assert retail[1].prev_hash == retail[0].hash and retail[2].prev_hash == retail[1].hash
    assert {e.chain for e in wealth} == {"wealth"}
    assert audit_verify() == []


def test_an_untouched_log_verifies_and_the_command_says_so():
    record(5)
    out = io.StringIO()

    call_command("audit", "verify", stdout=out)

    assert "intact" in out.getvalue()


def test_the_database_refuses_updates_and_deletes():
    [event] = record(1)

    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor="mallory")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_changing_one_field_of_one_event_is_detected_and_named():
    events = record(5)

    tamper("UPDATE governance_auditevent SET actor = %s WHERE id = %s", ["mallory", events[2].pk])

    assert f"event {events[2].pk}" in first_problem()
    assert "does not match its hash" in first_problem()


def test_deleting_one_event_is_detected_at_the_gap():
    events = record(5)

    tamper("DELETE FROM governance_auditevent WHERE id = %s", [events[1].pk])

    assert "position 2 is missing" in first_problem()


def test_swapping_two_events_is_detected():
    events = record(5)
    first, second = events[1], events[2]

    tamper(
        "UPDATE governance_auditevent SET sequence = CASE WHEN id = %s THEN 1000 ELSE sequence END WHERE id = %s",
        [first.pk, first.pk],
    )
    tamper("UPDATE governance_auditevent SET sequence = %s WHERE id = %s", [2, second.pk])
    tamper("UPDATE governance_auditevent SET sequence = %s WHERE id = %s", [3, first.pk])

    assert "position 2" in first_problem()


def test_cutting_off_the_tail_past_a_signed_checkpoint_is_detected():
    events = record(5)
    audit_checkpoint()

    tamper("DELETE FROM governance_auditevent WHERE sequence >= 4 AND chain = %s", ["retail"])
    tamper("UPDATE governance_auditchainhead SET sequence = 3, hash = %s WHERE chain = %s", [events[2].hash, "retail"])

    assert "signed checkpoint at position 5" in first_problem()


def test_rewriting_the_whole_chain_consistently_still_fails_against_the_signed_checkpoint():
    events = record(3)
    audit_checkpoint()
    # Recomputing every hash after a change fools the chain, but not the signature on its head.
    tamper("UPDATE governance_auditevent SET actor = %s WHERE id = %s", ["mallory", events[0].pk])
    from django.forms.models import model_to_dict

    from genai_platform.audit.chain import event_hash

    previous = "0" * 64
    for event in AuditEvent.objects.filter(chain="retail").order_by("sequence"):
        fields = model_to_dict(event) | {"occurred_at": event.occurred_at, "prev_hash": previous}
        new_hash = event_hash(fields)
        tamper(
            "UPDATE governance_auditevent SET prev_hash = %s, hash = %s WHERE id = %s", [previous, new_hash, event.pk]
        )
        previous = new_hash
    tamper("UPDATE governance_auditchainhead SET hash = %s WHERE chain = %s", [previous, "retail"])

    assert "differs from the signed checkpoint" in first_problem()


def test_verify_exits_non_zero_naming_the_bad_event():
    events = record(3)
    tamper("UPDATE governance_auditevent SET after = %s WHERE id = %s", [json.dumps({"i": 99}), events[0].pk])
    err = io.StringIO()

    with pytest.raises(CommandError):
        call_command("audit", "verify", stderr=err)

    assert f"event {events[0].pk}" in err.getvalue()


def test_export_writes_one_json_line_per_event_for_a_siem():
    record(3, "retail")
    record(2, "wealth")
    out = io.StringIO()

    call_command("audit", "export", "--chain", "retail", stdout=out, stderr=io.StringIO())

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["sequence"] for line in lines] == [1, 2, 3]
    assert {"hash", "prev_hash", "actor", "action", "occurred_at"} <= set(lines[0])


def test_checkpoints_are_signed_only_when_a_chain_grew():
    record(2)

    assert len(audit_checkpoint()) == 1
    assert audit_checkpoint() == []


@pytest.mark.parametrize(
    "after",
    [
        None,
        {},
        {"status": "success", "cost": "0.00028", "capture": {"level": "none"}, "guardrails": {}},
        {"z": 1, "a": [1, 2.5, None, True], "nested": {"b": 'é ✓ "quoted" ,"chain":', "a": "\u2028\n"}},
        {"decimal": Decimal("1.50"), "when": dt.date(2026, 12, 5)},
        {2: "int keys sort differently once JSON made them strings", 10: "x"},
    ],
)
def test_the_batch_hash_of_a_payload_text_is_the_hash_of_what_the_stored_json_reads_back_as(after):
    """The flusher splices each payload's canonical text into the hashed document instead of
    decoding and encoding it again; `audit verify` hashes what the stored JSON reads back as."""

    event = {
        "chain": "retail",
        "sequence": 7,
        "occurred_at": dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC),
        "actor": 'key:"abc",',
        "action": "inference.chat",
        "object_type": "metering.usagerecord",
        "object_id": "req_1",
        "lob_slug": "retail",
        "request_id": "req_1",
        "prev_hash": "0" * 64,
    }
    text = json_text(after)
    read_back = None if text is None else json.loads(text)

    assert event_hash_of_texts(event, before_text=None, after_text=text) == event_hash(
        event | {"before": None, "after": read_back}
    )
