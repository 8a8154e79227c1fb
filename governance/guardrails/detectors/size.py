"""Size limits: characters, and tokens as the platform estimates them for metering."""

from __future__ import annotations

from ..policy import Check, CheckRule
from ..results import Finding
from .base import Detection, Digest


def estimate_tokens(text: str) -> int:
    """The platform's own offline token estimate (`genai_platform.providers.tokens`).

    Imported on first use: importing anything under `genai_platform` runs its package `__init__`,
    which loads the Celery app (and with it Django), and this package stays importable without."""
    from genai_platform.providers.tokens import estimate_tokens as platform_estimate

    return platform_estimate(text)


class SizeDetector:
    name = "size"

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        findings = []
        if rule.max_chars is not None and len(text) > rule.max_chars:
            findings.append(
                Finding(
                    Check.SIZE,
                    "MAX_CHARS",
                    rule.max_chars,
                    len(text),
                    1.0,
                    None,
                    f"chars {len(text)} > {rule.max_chars}",
                )
            )
        if rule.max_tokens is not None:
            tokens = estimate_tokens(text)
            if tokens > rule.max_tokens:
                findings.append(
                    Finding(Check.SIZE, "MAX_TOKENS", 0, len(text), 1.0, None, f"tokens {tokens} > {rule.max_tokens}")
                )
        return Detection(tuple(findings), self.name, 1.0 if findings else 0.0)
