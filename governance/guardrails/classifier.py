"""The slot for a local prompt-injection classifier.

Any object with a `name` and a `score(text) -> float` (probability of injection, 0..1) fits.
`load_local_classifier` builds one from a model directory already on disk (a Hugging Face
sequence-classification model such as a fine-tuned DeBERTa prompt-injection model), only when
`transformers` is installed and the directory exists; it never downloads anything
(`local_files_only=True`). Otherwise it returns None and the injection check runs on heuristics
alone, and says so in every outcome.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

logger = logging.getLogger(__name__)


@runtime_checkable
class InjectionClassifier(Protocol):
    name: str

    def score(self, text: str) -> float: ...


class TransformersInjectionClassifier:
    """A local Hugging Face text-classification model; `positive_label` is its injection label."""

    def __init__(self, pipeline: Any, name: str, positive_label: str = "INJECTION", max_chars: int = 4000) -> None:
        self._pipeline = pipeline
        self.name = name
        self._positive_label = positive_label.upper()
        self._max_chars = max_chars

    def score(self, text: str) -> float:
        scores = self._pipeline(text[: self._max_chars], top_k=None, truncation=True)
        if scores and isinstance(scores[0], list):
            scores = scores[0]
        for item in scores:
            if str(item["label"]).upper() == self._positive_label:
                return float(item["score"])
        return 0.0


def load_local_classifier(
    model_dir: str | Path | None, positive_label: str = "INJECTION"
) -> InjectionClassifier | None:
    """A classifier from a local model directory, or None (heuristics only) when there is none."""
    if not model_dir:
        return None
    path = Path(model_dir)
    if not (path / "config.json").is_file():
        logger.warning("guardrails: no injection model at %s; using heuristics only", path)
        return None
    try:
        from transformers import pipeline  # type: ignore[import-not-found]
    except ImportError:
        logger.warning("guardrails: transformers is not installed; using heuristics only")
        return None
    try:
        classifier = pipeline(
            "text-classification", model=str(path), tokenizer=str(path), model_kwargs={"local_files_only": True}
        )
    except (OSError, ValueError) as exc:
        logger.warning("guardrails: could not load the injection model at %s (%s); using heuristics only", path, exc)
        return None
    return TransformersInjectionClassifier(classifier, name=path.name, positive_label=positive_label)
