"""Denied words and phrases: whole words, any case, through the same de-obfuscation as injection.

A word list entry matches on word boundaries in the folded view (so `foo` written with Greek omicrons,
`f00` and `f-o-o` all match `foo`), and its span is mapped back to the original text for masking.
Multi-word entries match across any run of spaces or punctuation.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

from ..normalize import despace, folded_view
from ..policy import Check, CheckRule
from ..results import Finding
from .base import Detection, Digest

_CACHE_SIZE = 256


class DeniedWordsDetector:
    name = "word-list"

    def __init__(self) -> None:
        self._compiled: OrderedDict[tuple[str, ...], re.Pattern[str]] = OrderedDict()
        self._lock = threading.Lock()

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        regex = self._regex(rule.words)
        folded = folded_view(text)
        spans: dict[tuple[int, int], str] = {}
        for view in (folded, despace(folded)):
            for match in regex.finditer(view.text):
                spans.setdefault(view.original_span(match.start(), match.end()), match.group())
        findings = _outermost(
            Finding(Check.DENIED_WORDS, "DENIED_WORD", start, end, 1.0, digest("DENIED_WORD", word))
            for (start, end), word in spans.items()
        )
        return Detection(tuple(findings), self.name, 1.0 if findings else 0.0)

    def _regex(self, words: tuple[str, ...]) -> re.Pattern[str]:
        with self._lock:
            if words in self._compiled:
                self._compiled.move_to_end(words)
                return self._compiled[words]
        alternatives = []
        for word in sorted(words, key=len, reverse=True):
            parts = [re.escape(folded_view(part).text) for part in word.split()]
            alternatives.append(r"[^a-z0-9]+".join(parts))
        regex = re.compile(r"(?<![a-z0-9])(?:" + "|".join(alternatives) + r")(?![a-z0-9])")
        with self._lock:
            self._compiled[words] = regex
            while len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        return regex


def _outermost(findings) -> list[Finding]:  # type: ignore[no-untyped-def]
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda item: (item.start, -item.end)):
        if kept and finding.start < kept[-1].end:
            continue
        kept.append(finding)
    return kept
