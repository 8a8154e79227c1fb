"""Pattern recognizers for addresses, dates of birth and identity documents.

Presidio's own recognizers are used where they exist (UK NHS numbers and national insurance
numbers, passports, driving licences, US ITINs, Spanish NIF/NIE, Italian fiscal codes, Polish
PESEL, Finnish identity codes, German tax ids), with their checksums where the format has one
(NHS mod 11, NIF/NIE letter, fiscal code check character, PESEL, Finnish check character, German
tax id ISO 7064). What Presidio lacks is written here, each anchored so that a bare number is not
taken for a document:

* `STREET_ADDRESS`: a house number, one to three capitalised words and a street suffix
  ("221B Baker Street", "1600 Pennsylvania Avenue NW", "Flat 3, 12 Kings Road").
* `US_ZIP_CODE`: five digits (or ZIP+4) after a US state's postal abbreviation ("Austin, TX 78701").
* `UK_POSTCODE`: Presidio's pattern; written in its usual spaced form ("NW1 6XE") it counts
  without a context word, unspaced it still needs "postcode" nearby.
* `DATE_OF_BIRTH`: a date within a few words after a birth cue ("born", "DOB", "date of birth",
  "birthday"); a date without such a cue is not personal data.
* `PASSPORT` and `DRIVER_LICENSE`: an alphanumeric document number right after the document's
  name ("passport number is X12345678", "driver's license: D1234-56789-01234"), whatever the
  issuing country's format.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers.country_specific.finland.fi_personal_identity_code_recognizer import (
    FiPersonalIdentityCodeRecognizer,
)
from presidio_analyzer.predefined_recognizers.country_specific.germany.de_tax_id_recognizer import (
    DeTaxIdRecognizer,
)
from presidio_analyzer.predefined_recognizers.country_specific.italy.it_fiscal_code_recognizer import (
    ItFiscalCodeRecognizer,
)
from presidio_analyzer.predefined_recognizers.country_specific.poland.pl_pesel_recognizer import PlPeselRecognizer
from presidio_analyzer.predefined_recognizers.country_specific.spain.es_nie_recognizer import EsNieRecognizer
from presidio_analyzer.predefined_recognizers.country_specific.spain.es_nif_recognizer import EsNifRecognizer
from presidio_analyzer.predefined_recognizers.country_specific.uk.uk_driving_licence_recognizer import (
    UkDrivingLicenceRecognizer,
)
from presidio_analyzer.predefined_recognizers.country_specific.uk.uk_nhs_recognizer import NhsRecognizer
from presidio_analyzer.predefined_recognizers.country_specific.uk.uk_nino_recognizer import UkNinoRecognizer
from presidio_analyzer.predefined_recognizers.country_specific.uk.uk_passport_recognizer import (
    UkPassportRecognizer,
)
from presidio_analyzer.predefined_recognizers.country_specific.uk.uk_postcode_recognizer import (
    UkPostcodeRecognizer,
)
from presidio_analyzer.predefined_recognizers.country_specific.us.us_itin_recognizer import UsItinRecognizer
from presidio_analyzer.predefined_recognizers.country_specific.us.us_passport_recognizer import (
    UsPassportRecognizer,
)

LANGUAGE = "en"


_SUFFIXES = (
    "Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Way|Close|"
    "Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Gardens|Grove|Row|Mews|Walk|Strasse|Straße"
)
_STREET = (
    r"(?:(?:Flat|Apartment|Apt|Unit|Suite)\s+\w{1,5},?\s+)?"
    r"\b\d{1,5}[A-Za-z]?(?:-\d{1,5})?,?\s+(?:[NSEW]\.?\s+)?(?:[A-Z][a-zA-Z'\-]+\.?\s+){1,3}"
    rf"(?:{_SUFFIXES})\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*#?\w{1,5}\b)?"
)
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2}))"
)
# A cue that ends in a dot ("D.O.B.", "b.") has no word boundary after it, hence the lookbehind.
_BIRTH_CUE = (
    r"\b(?:born|date[\s\-]+of[\s\-]+birth|birth[\s\-]*date|birthdate|birthday|d\.?o\.?b\.?|DOB|b\.|geboren|"
    r"n[ée]e?\s+le)(?:\b|(?<=\.))"
)
# The date must follow the cue closely ("born 14 March 1962", "DOB: 04/07/1985", "date of birth
# (1 May 1990)", "born on the ...", "DOB as ..."): "born out of a hackathon on 5 May 1995" is not a
# birth date.
_DOB = re.compile(
    rf"{_BIRTH_CUE}[\s:,(\-=]*(?:(?:is|was|on|of|the|as|given\s+as|recorded\s+as)\s+){{0,3}}(?P<date>{_DATE})",
    re.IGNORECASE,
)


def _document_number(name: str) -> str:
    # Groups joined by hyphens, or by single spaces when the next group starts with a digit
    # ("A123 456 789"): a following word ("and", "expires") is not part of the number.
    return rf"(?P<{name}>[A-Z0-9]{{1,9}}(?:-?[A-Z0-9]{{1,9}}|\s\d[A-Z0-9]{{0,8}}){{0,4}})\b"


_NUMBER_CUE = r"(?:\s+(?:number|no\.?|nr\.?|num\.?|#|id))?\s*(?:is|was|:|#|=|no\.?:?)?\s*(?:is\s+)?"
_PASSPORT = re.compile(rf"\bpassport{_NUMBER_CUE}{_document_number('number')}", re.IGNORECASE)
_LICENSE = re.compile(
    rf"\b(?:driver'?s?|driving|drivers)\s+licen[cs]e{_NUMBER_CUE}{_document_number('number')}"
    rf"|\bDL{_NUMBER_CUE}{_document_number('number2')}",
    re.IGNORECASE,
)


class _RegexRecognizer(EntityRecognizer):
    """One entity type found by one regular expression; `group` names the part reported."""

    def __init__(
        self,
        entity: str,
        pattern: re.Pattern[str],
        score: float,
        group: str | int = 0,
        candidate: re.Pattern[str] | None = None,
    ) -> None:
        # `candidate`: a cheap pattern every match contains; a text without it is not scanned.
        self._pattern, self._score, self._group, self._candidate = pattern, score, group, candidate
        super().__init__(supported_entities=[entity], supported_language=LANGUAGE, name=f"{entity.lower()}-pattern")

    def load(self) -> None:
        pass

    def accept(self, value: str) -> bool:
        return True

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        entity = self.supported_entities[0]
        if self._candidate is not None and not self._candidate.search(text):
            return []
        results = []
        for match in self._pattern.finditer(text):
            start, end = match.span(self._group)
            if start >= 0 and self.accept(text[start:end]):
                results.append(RecognizerResult(entity, start, end, self._score))
        return results


class _DocumentNumberRecognizer(_RegexRecognizer):
    """A document number after the document's name: needs digits, and is not an ordinary word."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in self._pattern.finditer(text):
            names = [name for name, value in match.groupdict().items() if value]
            if not names:
                continue
            start, end = match.span(names[0])
            value = text[start:end].rstrip(" -")
            end = start + len(value)
            if sum(ch.isdigit() for ch in value) >= 5 and len(value.replace(" ", "").replace("-", "")) >= 6:
                results.append(RecognizerResult(self.supported_entities[0], start, end, self._score))
        return results


class SpacedUkPostcodeRecognizer(UkPostcodeRecognizer):
    """Presidio's UK postcode pattern; the spaced form ("NW1 6XE") is distinctive enough alone."""

    _SPACED = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}$")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags=None):  # type: ignore[no-untyped-def]
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for result in results:
            if self._SPACED.match(text[result.start : result.end]):
                result.score = max(result.score, 0.6)
        return results


class NeedsCandidate:
    """Runs a Presidio pattern recognizer only on a text where `CANDIDATE` matches.

    `CANDIDATE` is a cheap pattern that every match of the recognizer's own patterns contains (a
    necessary condition, compiled case-insensitively like Presidio's), so nothing the recognizer
    would find is lost; most prompts hold no candidate, and the recognizer's patterns cost ~0.1 ms
    each on 2,000 characters. `tests/guardrails/test_pii.py` checks that the results are those of
    the recognizer without the condition on every labelled case."""

    CANDIDATE: re.Pattern[str]

    def candidate(self, text: str) -> bool:
        return self.CANDIDATE.search(text) is not None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags=None):  # type: ignore[no-untyped-def]
        if not self.candidate(text):
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)  # type: ignore[misc]


class ItFiscalCodeCandidatesRecognizer(NeedsCandidate, ItFiscalCodeRecognizer):
    """Sixteen letters or digits in a row (the code has no separators), so a word of 16 characters or
    more: splitting on white space costs far less than any pattern over the text."""

    def candidate(self, text: str) -> bool:
        return any(len(word) >= 16 for word in text.split())


class UkDrivingLicenceCandidatesRecognizer(NeedsCandidate, UkDrivingLicenceRecognizer):
    """Sixteen characters without a separator, so a word of 16 characters or more."""

    def candidate(self, text: str) -> bool:
        return any(len(word) >= 16 for word in text.split())


class EsNifCandidatesRecognizer(NeedsCandidate, EsNifRecognizer):
    """Seven digits in a row."""

    CANDIDATE = re.compile(r"[0-9]{7}")


class EsNieCandidatesRecognizer(NeedsCandidate, EsNieRecognizer):
    """Seven digits in a row."""

    CANDIDATE = re.compile(r"[0-9]{7}")


class UkNinoCandidatesRecognizer(NeedsCandidate, UkNinoRecognizer):
    """Six digits in pairs, optionally spaced."""

    CANDIDATE = re.compile(r"[0-9]{2} ?[0-9]{2} ?[0-9]{2}")


class UsPassportCandidatesRecognizer(NeedsCandidate, UsPassportRecognizer):
    """Eight digits in a row (nine digits, or a letter and eight)."""

    CANDIDATE = re.compile(r"[0-9]{8}")


class UkPostcodeCandidatesRecognizer(NeedsCandidate, SpacedUkPostcodeRecognizer):
    """Every postcode ends in its inward code, a digit and two letters."""

    CANDIDATE = re.compile(r"[0-9][a-z]{2}", re.IGNORECASE)


def pattern_recognizers() -> list[EntityRecognizer]:
    """Every recognizer of this module and the Presidio ones it relies on, for English text."""
    return [
        _RegexRecognizer("STREET_ADDRESS", re.compile(_STREET), 0.7),
        _RegexRecognizer(
            "US_ZIP_CODE",
            re.compile(rf"\b(?:{_US_STATES}),?\s+\d{{5}}(?:-\d{{4}})?\b"),
            0.6,
            candidate=re.compile(r"\d{5}"),
        ),
        UkPostcodeCandidatesRecognizer(),
        _RegexRecognizer("DATE_OF_BIRTH", _DOB, 0.9, group="date"),
        _DocumentNumberRecognizer("PASSPORT", _PASSPORT, 0.8),
        _DocumentNumberRecognizer("DRIVER_LICENSE", _LICENSE, 0.8),
        UsPassportCandidatesRecognizer(),
        UkPassportRecognizer(),
        UkDrivingLicenceCandidatesRecognizer(),
        UkNinoCandidatesRecognizer(),
        NhsRecognizer(),
        UsItinRecognizer(),
        EsNifCandidatesRecognizer(supported_language=LANGUAGE),
        EsNieCandidatesRecognizer(supported_language=LANGUAGE),
        ItFiscalCodeCandidatesRecognizer(supported_language=LANGUAGE),
        PlPeselRecognizer(supported_language=LANGUAGE),
        FiPersonalIdentityCodeRecognizer(supported_language=LANGUAGE),
        DeTaxIdRecognizer(supported_language=LANGUAGE),
    ]
