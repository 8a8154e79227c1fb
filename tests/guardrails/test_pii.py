import json
import socket
from pathlib import Path

import pytest
import spacy

from governance.guardrails import PII_ENTITIES, Action, Check, CustomEntity, Direction, GuardrailEngine
from governance.guardrails.detectors.base import DEFAULT_PHONE_REGIONS
from governance.guardrails.detectors.pii import PiiDetector

from .conftest import policy, rule

PII = rule(Check.PII, Action.MASK, entities=PII_ENTITIES)


def found(engine, text, pii_rule=PII):
    return [(f.entity_type, text[f.start : f.end]) for f in engine.detect(text, pii_rule).findings]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("card 4111 1111 1111 1111 please", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005 declined", "CREDIT_CARD", "3782-822463-10005"),
        ("wire to DE89 3704 0044 0532 0130 00 today", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("refund GB82WEST12345698765432 now", "IBAN_CODE", "GB82WEST12345698765432"),
        ("my ssn is 536-90-4399", "US_SSN", "536-90-4399"),
        ("write to jane.doe@example.co.uk", "EMAIL_ADDRESS", "jane.doe@example.co.uk"),
        ("call +44 20 7946 0958 today", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("server 192.168.1.24 is down", "IP_ADDRESS", "192.168.1.24"),
        ("host 2001:db8::1 is down", "IP_ADDRESS", "2001:db8::1"),
    ],
)
def test_each_structured_identifier_is_found_with_its_span(engine, text, entity, value):
    assert (entity, value) in found(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "reference 4111 1111 1111 1112",  # fails Luhn
        "wire to DE88 3704 0044 0532 0130 00",  # wrong mod-97 check digits
        "ssn 666-45-1234",  # area 666 is never issued
        "ssn 123-00-4567",  # group 00 is never issued
        "ssn 078-05-1120",  # the published sample number
        "icon@2x.png and admin@localhost",  # no public suffix
        "upgrade to version 3.14.159",
        "invoice INV-2024-000123",
    ],
)
def test_numbers_that_fail_their_validity_rules_are_not_personal_data(engine, text):
    assert found(engine, text) == []


def test_a_card_like_run_inside_an_iban_shaped_string_is_not_a_card(engine):
    assert found(engine, "IBAN: IT85 L673 0497 4024 0183 5758 438") == []


def test_only_the_entities_the_rule_lists_are_reported(engine):
    emails_only = rule(Check.PII, entities=("EMAIL_ADDRESS",))

    assert found(engine, "jane@example.com, 4111 1111 1111 1111", emails_only) == [
        ("EMAIL_ADDRESS", "jane@example.com")
    ]


def test_custom_regex_entities_from_the_policy_are_found(engine):
    with_custom = rule(
        Check.PII, entities=("EMAIL_ADDRESS",), custom_entities=(CustomEntity("EMPLOYEE_ID", r"\bEMP-\d{6}\b"),)
    )

    assert found(engine, "badge EMP-123456 and EMP-12", with_custom) == [("EMPLOYEE_ID", "EMP-123456")]


def test_a_lower_threshold_reports_weaker_matches(engine):
    text = "ref 536904399"  # a bare nine-digit run: Presidio's weakest SSN pattern
    strict = rule(Check.PII, entities=("US_SSN",), threshold=0.5)
    loose = rule(Check.PII, entities=("US_SSN",), threshold=0.01)

    assert found(engine, text, strict) == []
    assert found(engine, text, loose) == [("US_SSN", "536904399")]


def test_building_and_running_the_engine_downloads_nothing(monkeypatch):
    """No spaCy model, no public-suffix list: every network or model-loading call fails here."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:1])
        raise OSError("network disabled in this test")

    real_connect = socket.socket.connect

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            refuse(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(host))
    monkeypatch.setattr(spacy, "load", refuse)
    monkeypatch.setattr(spacy.cli, "download", refuse)

    fresh = GuardrailEngine()
    result = fresh.evaluate("mail jane@example.com or call +1 415-555-0132", policy(PII), Direction.INPUT)

    assert result.text == "mail <EMAIL_1> or call <PHONE_1>"
    assert attempts == []


def _labelled_texts() -> list[str]:
    import sys

    root = Path(__file__).resolve().parents[2] / "benchmarks" / "guardrails"
    texts = [
        json.loads(line)["text"]
        for name in ("eval_set.jsonl", "personal_context_set.jsonl", "holdout_set.jsonl")
        for line in (root / name).read_text(encoding="utf-8").splitlines()
    ]
    sys.path.insert(0, str(root))
    try:
        import run as bench
    finally:
        sys.path.remove(str(root))
    return [*texts, bench.LATENCY_PROMPT, *bench.business_prompts(20)]


def test_a_recognizer_run_only_on_candidate_texts_finds_what_it_finds_everywhere(monkeypatch):
    """The cheap conditions in front of the costlier patterns (`NeedsCandidate`, `candidate=`) are
    necessary conditions: on every labelled text, with and without them, the same results."""
    from governance.guardrails.detectors.identifiers import NeedsCandidate, _RegexRecognizer
    from governance.guardrails.policy import KNOWN_PII_ENTITIES

    detector = PiiDetector()
    analyzer = detector._analyzer
    gated = [r for r in analyzer.registry.recognizers if isinstance(r, NeedsCandidate)]
    own = [r for r in analyzer.registry.recognizers if isinstance(r, _RegexRecognizer) and r._candidate is not None]
    assert len(gated) >= 7 and own
    entities = list(KNOWN_PII_ENTITIES)

    def found(results):
        return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)

    differences = []
    for text in _labelled_texts():
        artifacts = analyzer.nlp_engine.process_text(text, "en")
        for recognizer in gated:
            everywhere = super(NeedsCandidate, recognizer).analyze(text, entities, artifacts)
            if found(recognizer.analyze(text, entities, artifacts)) != found(everywhere):
                differences.append((recognizer.name, text))
        for recognizer in own:
            with_condition = found(recognizer.analyze(text, entities, artifacts))
            monkeypatch.setattr(recognizer, "_candidate", None)
            if with_condition != found(recognizer.analyze(text, entities, artifacts)):
                differences.append((recognizer.name, text))
            monkeypatch.undo()
    assert differences == []


def test_a_number_with_its_country_code_is_matched_in_one_region_with_the_same_results(monkeypatch):
    """The phone recognizer stops after the first region for a whole "+" number: on every labelled
    text (and a few international numbers), the results are those of trying every region."""
    import phonenumbers

    from governance.guardrails.detectors.pii import CandidatePhoneRecognizer

    recognizer = CandidatePhoneRecognizer(supported_regions=DEFAULT_PHONE_REGIONS)
    texts = [
        *_labelled_texts(),
        "Call +44 20 7946 0958, +1 415 555 2671, +49 30 901820 or +33 1 42 68 53 00 / 01.",
        "Numbers: +91 98765 43210; +61 2 9374 4000; +971 4 123 4567; +1 (212) 555-0199 ext 12.",
    ]

    def every_region(piece):
        return [
            (region, match)
            for region in recognizer.supported_regions
            for match in phonenumbers.PhoneNumberMatcher(piece, region, leniency=recognizer.leniency)
        ]

    def found(results):
        return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)

    shortcut = [found(recognizer.analyze(text, ["PHONE_NUMBER"])) for text in texts]
    monkeypatch.setattr(recognizer, "_matches", every_region)
    assert shortcut == [found(recognizer.analyze(text, ["PHONE_NUMBER"])) for text in texts]
    assert any(shortcut)
