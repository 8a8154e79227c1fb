"""Personal data with Microsoft Presidio: pattern recognizers over a blank spaCy pipeline, and named
entities (persons, locations, organisations) from a packaged spaCy model loaded on first use.

Nothing is downloaded. The named-entity model (`ner.py`) is imported only when a policy asks for
PERSON, LOCATION or ORGANIZATION; addresses, dates of birth and identity documents are patterns
(`identifiers.py`). Structured identifiers are validated the way Presidio
validates them: credit cards by Luhn, IBANs by their mod-97 check digits and country format, US
SSNs by the SSA's issuing rules (no 000/666 area, no 00 group, no 0000 serial, no repeated digit,
no published sample), phone numbers by `phonenumbers` for the configured regions, e-mail
addresses by a known public suffix (from the list bundled with `tldextract`, never fetched).
Context words near a match ("ssn", "card", "phone") raise its score as in Presidio.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

import phonenumbers
import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from ..policy import Check, CheckRule, CustomEntity
from ..results import Finding
from .base import DEFAULT_PHONE_REGIONS, Detection, Digest
from .identifiers import NeedsCandidate, pattern_recognizers
from .ner import NER_ENTITIES, SpacyNerRecognizer

LANGUAGE = "en"
_CUSTOM_CACHE_SIZE = 256


# A run shaped like an IBAN (country, check digits, groups); a card-like digit run inside one is
# part of an account number that failed its own checksum, not a card number.
_IBAN_SHAPE = re.compile(r"\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?\b")


def _inside(result: RecognizerResult, spans: list[tuple[int, int]]) -> bool:
    return any(
        start <= result.start and result.end <= end and (start, end) != (result.start, result.end)
        for start, end in spans
    )


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over `spacy.blank`: tokens only, no model, nothing to download.

    A blank pipeline has no lemmatizer, so each token's lower-case form stands in for its lemma;
    that is what Presidio's context enhancer compares with the recognizers' context words. The
    text is tokenized only when a recognizer has found something whose context must be read."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": LANGUAGE, "model_name": "blank"}])

    def load(self) -> None:
        self.nlp = {LANGUAGE: spacy.blank(LANGUAGE)}

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return LazyNlpArtifacts(text, self, language)


class LazyNlpArtifacts(NlpArtifacts):
    """NLP artifacts computed on first access: most prompts contain nothing to enhance."""

    def __init__(self, text: str, engine: BlankSpacyNlpEngine, language: str) -> None:
        self._text, self.nlp_engine, self._language = text, engine, language
        self.entities: list = []
        self.scores: list = []
        self._tokens: list[str] | None = None
        self._indices: list[int] = []
        self._lemmas: list[str] = []
        self._keywords: list[str] | None = None

    def _parse(self) -> None:
        # One pass over the tokens builds all three lists: Presidio's context enhancer reads them once
        # per finding, and iterating a spaCy Doc creates a Token object per token on every pass.
        if self._tokens is None:
            doc = self.nlp_engine.nlp[self._language](self._text)
            self._indices = doc.to_array("IDX").tolist()
            self._tokens = [token.text for token in doc]
            self._lemmas = [text.lower() for text in self._tokens]

    @property
    def tokens(self) -> Any:  # type: ignore[override]
        """The tokens' texts (Presidio reads only their lengths and whether there are any), not a Doc."""
        self._parse()
        return self._tokens

    @property
    def tokens_indices(self) -> list[int]:  # type: ignore[override]
        self._parse()
        return self._indices

    @property
    def lemmas(self) -> list[str]:  # type: ignore[override]
        self._parse()
        return self._lemmas

    @property
    def keywords(self) -> list[str]:  # type: ignore[override]
        if self._keywords is None:
            self._keywords = self.set_keywords(self.nlp_engine, self.lemmas, self._language)
        return self._keywords


def _without_ner_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """A pattern's finding (an address, a document number) is more specific than a named entity
    over the same characters: the named entity is dropped, so the placeholder names the pattern."""
    patterns = [(r.start, r.end) for r in results if r.entity_type not in NER_ENTITIES]
    return [
        r
        for r in results
        if r.entity_type not in NER_ENTITIES or not any(s < r.end and r.start < e for s, e in patterns)
    ]


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer with the public-suffix list bundled in `tldextract`.

    The stock recognizer calls `tldextract.extract`, which fetches the list over the network on
    first use; this one never does."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""


class CaseInsensitiveIbanRecognizer(IbanRecognizer):
    """Presidio's IBAN recognizer, also reading lower-case input (`gb82west...`) as its upper case."""

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None, regex_flags=None):  # type: ignore[no-untyped-def]
        upper = text.upper()
        return super().analyze(upper if len(upper) == len(text) else text, entities, nlp_artifacts, regex_flags)


class UsSsnCandidatesRecognizer(NeedsCandidate, UsSsnRecognizer):
    """Each of the five SSN notations has two digits, at most one separator, then four digits."""

    CANDIDATE = re.compile(r"[0-9]{2}[- .]?[0-9]{4}")


class IpCandidatesRecognizer(NeedsCandidate, IpRecognizer):
    """An IPv4 address has a dotted quad; every IPv6 form has "::" or two hex digits around a colon."""

    CANDIDATE = re.compile(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|::|[0-9a-f]:[0-9a-f]", re.IGNORECASE)


class CandidatePhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer, run only on digit runs that could be phone numbers.

    `phonenumbers` scans the whole text once per region, which costs milliseconds per prompt;
    a cheap regex finds candidate spans first and the matcher validates each of them."""

    # Digit runs not glued to a code such as `INV-2024-000123` or `v1.2.3`.
    _CANDIDATE = re.compile(r"(?<![\w+\-/.])(?:\+|00)?\(?\d[\d \-.()/]{5,20}\d(?![\w/]|-\w)")
    # 3-2-4 digits is the US social security notation, not a phone format (though some national
    # numbering plans would accept the digits); the SSN recognizer owns it.
    _SSN_SHAPE = re.compile(r"^\d{3}([- ])\d{2}\1\d{4}$")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list:
        results: dict[tuple[int, int], RecognizerResult] = {}
        # A piece repeated in the text (a number quoted twice) is matched once.
        matched: dict[str, list[tuple[str, phonenumbers.PhoneNumberMatch]]] = {}
        for candidate in self._CANDIDATE.finditer(text):
            piece, offset = candidate.group(), candidate.start()
            if self._SSN_SHAPE.match(piece):
                continue
            if piece not in matched:
                matched[piece] = self._matches(piece)
            for region, match in matched[piece]:
                span = (offset + match.start, offset + match.end)
                if span not in results:
                    placed = phonenumbers.PhoneNumberMatch(span[0], match.raw_string, match.number)
                    results[span] = self._get_recognizer_result(placed, text, region, nlp_artifacts)
        return list(results.values())

    def _matches(self, piece: str) -> list[tuple[str, phonenumbers.PhoneNumberMatch]]:
        """Every region's matches in `piece`, first region first (the first region that finds a span
        names it). A number written whole with its "+country code" parses and validates the same in
        every region (the region only matters without the "+", or for a part of the piece), so once
        the first region matched the whole "+" piece the others would add only that same span."""
        regions = list(self.supported_regions)
        matches = [
            (regions[0], match) for match in phonenumbers.PhoneNumberMatcher(piece, regions[0], leniency=self.leniency)
        ]
        whole = len(matches) == 1 and matches[0][1].start == 0 and matches[0][1].end == len(piece)
        if piece.startswith("+") and whole and self.leniency == phonenumbers.Leniency.VALID:
            return matches
        return matches + [
            (region, match)
            for region in regions[1:]
            for match in phonenumbers.PhoneNumberMatcher(piece, region, leniency=self.leniency)
        ]


class PiiDetector:
    name = "presidio-patterns"  # engine.PII_DETECTOR_NAME, which names it before it is built

    def __init__(
        self, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS, ner: SpacyNerRecognizer | None = None
    ) -> None:
        self.ner = ner or SpacyNerRecognizer()
        recognizers = [
            CreditCardRecognizer(),
            CaseInsensitiveIbanRecognizer(),
            UsSsnCandidatesRecognizer(),
            OfflineEmailRecognizer(),
            CandidatePhoneRecognizer(supported_regions=phone_regions),
            IpCandidatesRecognizer(),
            *pattern_recognizers(),
            self.ner,
        ]
        registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
        self._analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=BlankSpacyNlpEngine(), supported_languages=[LANGUAGE]
        )
        self._custom: OrderedDict[tuple[CustomEntity, ...], list[PatternRecognizer]] = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, rule: CheckRule) -> None:
        """Loads the NER model now if `rule` asks for a named entity (once per process)."""
        if set(rule.entities) & set(NER_ENTITIES):
            self.ner.pipeline()

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        if not text.strip():
            return Detection((), self.name, 0.0)
        custom = self._custom_recognizers(rule.custom_entities)
        entities = list(rule.entities) + [entity.name for entity in rule.custom_entities]
        results = self._analyzer.analyze(
            text=text,
            language=LANGUAGE,
            entities=entities,
            score_threshold=rule.effective_threshold,
            ad_hoc_recognizers=custom or None,
        )
        results = _without_ner_overlaps(results)
        iban_shaped = [match.span() for match in _IBAN_SHAPE.finditer(text)] if "CREDIT_CARD" in entities else []
        findings = tuple(
            Finding(
                check=Check.PII,
                entity_type=result.entity_type,
                start=result.start,
                end=result.end,
                score=float(result.score),
                digest=digest(result.entity_type, text[result.start : result.end]),
            )
            for result in sorted(results, key=lambda item: item.start)
            if not (result.entity_type == "CREDIT_CARD" and _inside(result, iban_shaped))
        )
        return Detection(findings, self.name, max((finding.score for finding in findings), default=0.0))

    def _custom_recognizers(self, entities: tuple[CustomEntity, ...]) -> list[PatternRecognizer]:
        if not entities:
            return []
        with self._lock:
            if entities in self._custom:
                self._custom.move_to_end(entities)
                return self._custom[entities]
        recognizers = [
            PatternRecognizer(
                supported_entity=entity.name,
                patterns=[Pattern(name=entity.name, regex=entity.pattern, score=entity.score)],
                supported_language=LANGUAGE,
            )
            for entity in entities
        ]
        with self._lock:
            self._custom[entities] = recognizers
            while len(self._custom) > _CUSTOM_CACHE_SIZE:
                self._custom.popitem(last=False)
        return recognizers
