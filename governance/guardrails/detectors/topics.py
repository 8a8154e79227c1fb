"""Denied topics by lexical similarity to the topic's example phrases and description.

This is word overlap, not understanding. Each example (and the description) becomes a set of
content-word stems plus the bigrams of all its word stems (stop words included, so "what crypto will
go up" keeps "go up"); each sentence of the text, and each pair of neighbouring sentences, is
scored by how much of an example it contains:

    score = (shared content stems + shared bigrams) / (content stems + bigrams of the example)

and the topic's score is the best over examples and windows. It catches paraphrases that reuse the
example's words ("which shares should I buy" ~ "what stocks should I buy" only through "buy"), and
misses ones that do not; it can fire on a benign sentence that uses the same words. Give several
examples per topic, each with the two to six words that make the topic, and measure.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise

from ..lexical import STOPWORDS, sentences, stem, words
from ..policy import Check, CheckRule, DeniedTopic
from ..results import Finding
from .base import Detection, Digest

_CACHE_SIZE = 128
MIN_EXAMPLE_SIZE = 3


@dataclass(frozen=True)
class _Example:
    stems: frozenset[str]
    bigrams: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, text: str) -> _Example:
        return cls.of_words(words(text))

    @classmethod
    def of_words(cls, tokens: list[str]) -> _Example:
        stems = [stem(token) for token in tokens]
        content = frozenset(stem(token) for token in tokens if token not in STOPWORDS)
        return cls(content, frozenset(pairwise(stems)))

    @cached_property
    def size(self) -> int:
        return len(self.stems) + len(self.bigrams)

    def containment(self, window: _Example) -> float:
        size = self.size
        if not size:
            return 0.0
        return (len(self.stems & window.stems) + len(self.bigrams & window.bigrams)) / size


#: A topic's name, its examples, and every stem and bigram of them together.
_TopicModel = tuple[str, list[_Example], _Example]


class DeniedTopicsDetector:
    name = "lexical-similarity"

    def __init__(self) -> None:
        self._models: OrderedDict[tuple[DeniedTopic, ...], list[_TopicModel]] = OrderedDict()
        self._lock = threading.Lock()

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        threshold = rule.effective_threshold or 0.0
        windows = _windows(text)
        findings: list[Finding] = []
        best_score = 0.0
        for name, examples, vocabulary in self._model(rule.topics):
            best: tuple[float, int, int] = (0.0, 0, 0)
            for start, end, window in windows:
                if vocabulary.stems.isdisjoint(window.stems) and vocabulary.bigrams.isdisjoint(window.bigrams):
                    continue  # shares no word with any example: every containment would be 0
                for example in examples:
                    score = example.containment(window)
                    if score > best[0]:
                        best = (score, start, end)
            best_score = max(best_score, best[0])
            if best[0] >= threshold and best[0] > 0:
                score, start, end = best
                entity = "TOPIC:" + name
                findings.append(
                    Finding(Check.DENIED_TOPICS, entity, start, end, score, digest(entity, text[start:end]))
                )
        return Detection(tuple(findings), self.name, best_score)

    def _model(self, topics: tuple[DeniedTopic, ...]) -> list[_TopicModel]:
        with self._lock:
            if topics in self._models:
                self._models.move_to_end(topics)
                return self._models[topics]
        model = []
        for topic in topics:
            examples = [_Example.of(phrase) for phrase in (*topic.examples, topic.description) if phrase]
            examples = [example for example in examples if example.stems and example.size >= MIN_EXAMPLE_SIZE]
            vocabulary = _Example(
                frozenset().union(*(example.stems for example in examples)),
                frozenset().union(*(example.bigrams for example in examples)),
            )
            model.append((topic.name, examples, vocabulary))
        with self._lock:
            self._models[topics] = model
            while len(self._models) > _CACHE_SIZE:
                self._models.popitem(last=False)
        return model


def _windows(text: str) -> list[tuple[int, int, _Example]]:
    spans = sentences(text)
    tokens = [words(text[start:end]) for start, end in spans]
    windows = [(start, end, _Example.of_words(sentence)) for (start, end), sentence in zip(spans, tokens, strict=True)]
    for index in range(len(spans) - 1):
        pair = _Example.of_words(tokens[index] + tokens[index + 1])
        windows.append((spans[index][0], spans[index + 1][1], pair))
    return windows
