"""Personal data beyond structured identifiers: names, street addresses and postcodes, dates of birth,
identity documents (with their checksums where the format has one), and keys; the NER model is
loaded only by an engine whose policy asks for a named entity."""

from __future__ import annotations

import pytest

from governance.guardrails import Action, Check, Direction, GuardrailEngine
from governance.guardrails.detectors.ner import SpacyNerRecognizer, candidate_windows
from governance.guardrails.detectors.pii import PiiDetector
from governance.guardrails.policy import ADDRESS_ENTITIES, IDENTITY_DOCUMENT_ENTITIES, KNOWN_PII_ENTITIES

from .conftest import policy, rule

EVERYTHING = policy(rule(Check.PII, Action.MASK, entities=KNOWN_PII_ENTITIES))
PATTERNS_ONLY = policy(
    rule(Check.PII, Action.MASK, entities=(*ADDRESS_ENTITIES, "DATE_OF_BIRTH", *IDENTITY_DOCUMENT_ENTITIES))
)


def found(engine: GuardrailEngine, text: str, checked=EVERYTHING) -> dict[str, str]:
    result = engine.evaluate(text, checked, Direction.INPUT)
    return {f.entity_type: text[f.start : f.end] for o in result.outcomes for f in o.findings}


def test_the_patient_record_of_the_issue_is_masked_whole(engine):
    text = "Patient Maria Gonzalez, born 14 March 1962, lives at 221B Baker Street, London NW1 6XE."

    result = engine.evaluate(text, EVERYTHING, Direction.INPUT)

    assert result.text == (
        "Patient <PERSON_1>, born <DATE_OF_BIRTH_1>, lives at <STREET_ADDRESS_1>, London <UK_POSTCODE_1>."
    )


def test_passport_and_driving_licence_numbers_are_found_after_the_documents_name(engine):
    text = "My passport number is X12345678 and my driver's license is D1234-56789-01234"

    entities = found(engine, text, PATTERNS_ONLY)

    assert entities["PASSPORT"] == "X12345678"
    assert entities["DRIVER_LICENSE"] == "D1234-56789-01234"


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("NHS number 943 476 5919 for the referral", "UK_NHS"),  # valid mod-11 check digit
        ("National insurance number AB 12 34 56 C on the payslip", "UK_NINO"),
        ("Mi NIF es 12345678Z para la factura", "ES_NIF"),  # the letter is the checksum
        ("Codice fiscale RSSMRA85T10A562S del cliente", "IT_FISCAL_CODE"),
        ("PESEL 44051401359 w formularzu", "PL_PESEL"),
        ("Ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500", "STREET_ADDRESS"),
        ("Ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500", "US_ZIP_CODE"),
        ("DOB: 04/07/1985, allergies none", "DATE_OF_BIRTH"),
    ],
)
def test_each_identifier_is_found_with_its_type(engine, text, entity):
    assert entity in found(engine, text, PATTERNS_ONLY)


@pytest.mark.parametrize(
    "text",
    [
        "NHS number 943 476 5918 for the referral",  # wrong check digit
        "The meeting on 14 March 1962 is the founding date of the club.",  # a date, not a birth date
        "Route 66 and Highway 1 are both scenic drives.",
        "Reference INV-2024-000123 was paid on 2024-03-14.",
        "The passport office opens at 9 and closes at 17.",
        "Version 12.4 of the driving licence app shipped in May.",
    ],
)
def test_near_misses_are_not_personal_data(engine, text):
    assert found(engine, text, PATTERNS_ONLY) == {}


def test_names_locations_and_organisations_come_from_the_ner_model(engine):
    entities = found(engine, "Please draft a note to John Smith at Acme Corporation about the Paris visit.")

    assert entities["PERSON"] == "John Smith"
    assert entities["ORGANIZATION"] == "Acme Corporation"
    assert entities["LOCATION"] == "Paris"


def test_the_ner_model_reads_only_windows_around_candidate_proper_nouns():
    text = "please summarise the attached notes. " * 20 + "Then send them to Maria Gonzalez today."

    windows = candidate_windows(text)

    assert len(windows) == 1 and "Maria Gonzalez" in text[windows[0][0] : windows[0][1]]
    assert windows[0][1] - windows[0][0] < 150
    assert candidate_windows("nothing here is capitalised after the start. Really nothing.") == []


def test_a_process_whose_policy_asks_for_no_named_entity_never_loads_the_model():
    def refuse_to_load():
        raise AssertionError("the NER model was loaded")

    detector = PiiDetector(ner=SpacyNerRecognizer(loader=refuse_to_load))
    engine = GuardrailEngine()
    engine._detectors[Check.PII] = detector  # the engine as a gateway builds it, with a loader that refuses

    result = engine.evaluate("Mail jane.doe@example.com, born 1 May 1990, Maria Gonzalez", PATTERNS_ONLY, "input")

    assert not detector.ner.loaded and not result.blocked
    assert {f.entity_type for o in result.outcomes for f in o.findings} == {"DATE_OF_BIRTH"}


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        (
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA9d8pQ3Hk2Lx7sQ0Yy8nRQ1F0G5cQk4fR9u2 alice@laptop",
            "SSH_PUBLIC_KEY",
        ),
        ("DATABASE_URL=postgres://app:S3cr3tPa55@db.internal:5432/prod", "DATABASE_CONNECTION_STRING"),
        (
            "Server=tcp:sql01.corp.local,1433;Database=Sales;User Id=svc;Password=Winter2024!x;",
            "DATABASE_CONNECTION_STRING",
        ),
        (
            "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4g"
            "RG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "JSON_WEB_TOKEN",
        ),
    ],
)
def test_keys_tokens_and_connection_strings_are_secrets(engine, text, entity):
    detection = engine.detect(text, rule(Check.SECRETS))

    assert entity in {finding.entity_type for finding in detection.findings}


@pytest.mark.parametrize(
    "text",
    [
        "Use postgres://app:${DB_PASSWORD}@localhost/db as in the tutorial.",
        "Connect to postgres://db.internal:5432/prod with your own account.",
        "Generate a key with ssh-keygen -t ed25519 and paste the public part.",
    ],
)
def test_documentation_of_keys_and_urls_is_not_a_secret(engine, text):
    assert engine.detect(text, rule(Check.SECRETS)).findings == ()


def test_an_engine_builds_its_personal_data_detector_on_the_first_personal_data_check():
    engine = GuardrailEngine()
    lazy = engine._detectors[Check.PII]

    assert not lazy.built
    engine.evaluate("Mail jane.doe@example.com", PATTERNS_ONLY, "input")
    assert lazy.built and lazy.name == PiiDetector.name


def test_a_window_of_the_ner_model_stops_at_a_line_break():
    text = "Heading of the notes\nSend them to Maria Gonzalez today please\nAnother line follows here"

    ((start, end),) = candidate_windows(text)

    assert "Maria Gonzalez" in text[start:end] and "\n" not in text[start:end]
