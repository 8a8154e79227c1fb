"""A detector built on its first use, so that importing the engine costs nothing it may not need.

Personal-data detection imports Presidio and spaCy (about 60 MB and a second or more of start-up):
a process whose policies never check personal data (beat, most workers, management commands) never
pays for them, and one that does pays on its first such check, not when it imports the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..policy import CheckRule
from .base import Detection, Detector, Digest


class LazyDetector:
    """Builds the wrapped detector once (under a lock) on the first `prepare` or `detect`."""

    def __init__(self, name: str, build: Callable[[], Detector]) -> None:
        self.name = name
        self._build = build
        self._detector: Detector | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._detector is not None

    def detector(self) -> Detector:
        if self._detector is None:
            with self._lock:
                if self._detector is None:
                    self._detector = self._build()
        return self._detector

    def prepare(self, rule: CheckRule) -> None:
        """Builds the detector, and lets it load what `rule` needs (the engine does not count this
        against the check's time limit)."""
        prepare = getattr(self.detector(), "prepare", None)
        if prepare is not None:
            prepare(rule)

    def detect(self, text: str, rule: CheckRule, *, context: str | None, digest: Digest) -> Detection:
        return self.detector().detect(text, rule, context=context, digest=digest)
