"""Named entities a rule decides before the model (guardrails/detectors/ner.py `decided_entities`):
an organisation named with its legal form and a known place standing alone are found without
reading them with the NER model, which costs ~0.1 ms per token; anything a rule cannot settle,
a person whose name is also a place included, still goes to the model."""

from __future__ import annotations

from typing import Any

import pytest

from governance.guardrails.detectors.ner import SpacyNerRecognizer, decided_entities, load_pipeline
from governance.guardrails.detectors.places import PLACES

EVERY_TYPE = ["PERSON", "LOCATION", "ORGANIZATION"]


class _CountingPipeline:
    """The real pipeline, recording every text it was asked to read."""

    def __init__(self, nlp: Any) -> None:
        self.nlp = nlp
        self.read: list[str] = []

    def __call__(self, text: str) -> Any:
        self.read.append(text)
        return self.nlp(text)


@pytest.fixture(scope="module")
def real_pipeline() -> Any:
    return load_pipeline()


@pytest.fixture
def model(real_pipeline) -> _CountingPipeline:
    return _CountingPipeline(real_pipeline)


@pytest.fixture
def recognizer(model) -> SpacyNerRecognizer:
    return SpacyNerRecognizer(loader=lambda: model)


def refuse_to_load() -> Any:
    raise AssertionError("the model was not needed for this text")


def found(recognizer: SpacyNerRecognizer, text: str, entities: list[str] = EVERY_TYPE) -> set[tuple[str, str]]:
    return {(text[r.start : r.end], r.entity_type) for r in recognizer.analyze(text, entities)}


def test_organisations_named_with_their_legal_form_are_found_without_the_model():
    recognizer = SpacyNerRecognizer(loader=refuse_to_load)
    text = "Invoices go to Contoso Freight Ltd, to Fabrikam Packaging BV and to Northwind Logistics GmbH."

    assert found(recognizer, text) == {
        ("Contoso Freight Ltd", "ORGANIZATION"),
        ("Fabrikam Packaging BV", "ORGANIZATION"),
        ("Northwind Logistics GmbH", "ORGANIZATION"),
    }


def test_known_places_standing_alone_are_found_without_the_model():
    recognizer = SpacyNerRecognizer(loader=refuse_to_load)
    text = "The pallets left Rotterdam on the 4th and reached New York a week later."

    assert found(recognizer, text) == {("Rotterdam", "LOCATION"), ("New York", "LOCATION")}


def test_a_decided_candidate_of_a_type_the_policy_does_not_ask_for_is_neither_reported_nor_read():
    recognizer = SpacyNerRecognizer(loader=refuse_to_load)

    assert found(recognizer, "Ship it from Rotterdam via Contoso Freight Ltd.", ["PERSON"]) == set()


def test_a_place_that_is_also_a_persons_name_is_left_to_the_model(recognizer, model):
    assert "Florence" not in PLACES and "Jordan" not in PLACES and "Sydney" not in PLACES
    assert "Rotterdam" in PLACES

    found(recognizer, "Please forward the signed copy to Sydney before noon.")

    assert any("Sydney" in text for text in model.read)


def test_a_person_beside_decided_names_is_still_found_by_the_model(recognizer, model):
    text = "The contract with Contoso Freight Ltd in Rotterdam was signed by Margaret Okonkwo yesterday."

    results = found(recognizer, text)

    assert ("Margaret Okonkwo", "PERSON") in results
    assert ("Contoso Freight Ltd", "ORGANIZATION") in results and ("Rotterdam", "LOCATION") in results
    assert all("Rotterdam" not in read or "Margaret" in read for read in model.read)  # read only as context


def test_a_title_before_a_place_name_makes_it_a_person(recognizer):
    results = found(recognizer, "The report was approved by Dr Rotterdam on Friday.")

    assert {kind for words, kind in results if "Rotterdam" in words} == {"PERSON"}


def test_an_organisation_that_starts_a_sentence_is_decided_without_the_word_that_opens_it():
    text = "Contact Contoso Freight Ltd today. Vendor: Fabrikam Packaging BV. Rotterdam is next."

    assert [(text[s:e], kind) for s, e, kind in decided_entities(text)] == [
        ("Contoso Freight Ltd", "ORGANIZATION"),
        ("Fabrikam Packaging BV", "ORGANIZATION"),
    ]  # a place opening a sentence is no candidate at all, as for the model


def test_a_legal_form_alone_or_a_single_capitalised_word_before_it_is_not_an_organisation_by_rule():
    text = "We asked whether Ltd is the right suffix, and whether Acme Ltd exists."

    assert [(text[s:e], kind) for s, e, kind in decided_entities(text)] == [("Acme Ltd", "ORGANIZATION")]
