"""Grounding: flags answer sentences that the retrieved context does not support, by word overlap.

For each answer sentence with at least three content words, support is the share of its content
stems found in the context; a number (`42`, `3.5`) absent from the context counts as three missing
words and makes the sentence at least 0.5 unsupported, since invented figures are the costliest
hallucination. A sentence whose unsupported share (1 - support) reaches the threshold is a finding.

Limits, by construction: a faithful paraphrase in other words is flagged; a sentence that reuses
the context's words but inverts their meaning ("rose" vs "fell" aside, "not", swapped subjects) is
not. It needs the context the answer was generated from; without context the check does not run.
"""

from __future__ import annotations

from ..lexical import content_stems, is_number, sentences
from ..policy import Check, CheckRule
from ..results import Finding
from .base import Detection, Digest

MIN_SENTENCE_STEMS = 3
NUMBER_WEIGHT = 3
# A number the context does not contain makes a sentence at least this unsupported (above the
# default threshold): an invented figure is wrong however many other words are copied.
MISSING_NUMBER_FLOOR = 0.5


class GroundingDetector:
    name = "lexical-overlap"

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        if not context or not context.strip():
            return Detection((), "skipped:no-context", 0.0)
        threshold = rule.effective_threshold or 0.0
        supported = set(content_stems(context))
        findings: list[Finding] = []
        worst = 0.0
        for start, end in sentences(text):
            stems = content_stems(text[start:end])
            if len(stems) < MIN_SENTENCE_STEMS:
                continue
            total = missing = 0
            missing_number = False
            for token in stems:
                weight = NUMBER_WEIGHT if is_number(token) else 1
                total += weight
                if token not in supported:
                    missing += weight
                    missing_number = missing_number or is_number(token)
            unsupported = max(missing / total, MISSING_NUMBER_FLOOR if missing_number else 0.0)
            worst = max(worst, unsupported)
            if unsupported >= threshold:
                findings.append(
                    Finding(
                        Check.GROUNDING,
                        "UNSUPPORTED_SENTENCE",
                        start,
                        end,
                        unsupported,
                        digest("SENTENCE", text[start:end]),
                    )
                )
        return Detection(tuple(findings), self.name, worst)
