"""What every detector returns, and the shape of the digest function the engine hands it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..policy import CheckRule
from ..results import Finding

#: Regions whose phone-number formats the personal-data check reads.
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CA", "BR", "ES", "IT", "NL", "AU")
# digest(entity_type, value) -> keyed digest of the value, normalized for its type.
Digest = Callable[[str, str], str]


@dataclass(frozen=True)
class Detection:
    """Findings at or above the rule's threshold, the method that ran, and the overall score."""

    findings: tuple[Finding, ...]
    detector: str
    score: float


class Detector(Protocol):
    name: str

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection: ...
