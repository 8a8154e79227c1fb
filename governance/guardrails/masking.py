"""Consistent placeholders: within one session the same value always becomes the same `<EMAIL_1>`.

A session remembers digests, not values, so it can live as long as a conversation without
holding anything sensitive. One session per conversation (or per request when there is none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .results import Finding

# Short placeholder labels for Presidio's entity names; anything else is used as it is.
PLACEHOLDER_LABELS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "IBAN_CODE": "IBAN",
    "US_SSN": "SSN",
    "IP_ADDRESS": "IP",
}


@dataclass
class MaskingSession:
    _placeholders: dict[tuple[str, str], str] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def placeholder(self, entity_type: str, digest: str) -> str:
        label = PLACEHOLDER_LABELS.get(entity_type, entity_type)
        key = (label, digest)
        if key not in self._placeholders:
            self._counts[label] = self._counts.get(label, 0) + 1
            self._placeholders[key] = f"<{label}_{self._counts[label]}>"
        return self._placeholders[key]

    def __len__(self) -> int:
        return len(self._placeholders)


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Non-overlapping findings, preferring the higher score, then the longer span."""
    chosen: list[Finding] = []
    ranked = sorted(findings, key=lambda item: (-item.score, -(item.end - item.start), item.start))
    for finding in ranked:
        if all(finding.end <= other.start or finding.start >= other.end for other in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda item: item.start)


def apply_masks(text: str, findings: Iterable[Finding], session: MaskingSession) -> str:
    """`text` with each finding's span replaced by its placeholder; findings must not overlap."""
    pieces: list[str] = []
    cursor = 0
    for finding in sorted(findings, key=lambda item: item.start):
        if finding.start < cursor or finding.digest is None:
            continue
        pieces.append(text[cursor : finding.start])
        pieces.append(session.placeholder(finding.entity_type, finding.digest))
        cursor = finding.end
    pieces.append(text[cursor:])
    return "".join(pieces)
