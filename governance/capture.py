"""Prompt capture for inference events, at the level the use case's approval sets.

- `none`: nothing of the content is kept;
- `hashed`: SHA-256 digests of the prompt and the answer (proves what was said without keeping it);
- `redacted`: the texts with personal data and secrets masked by the guardrail engine;
- `full`: the texts as they were.
The digests of whatever is kept always go into the audit event.

Redaction runs in the ledger flusher. Inside `capture_redaction_batch()` (one flush batch) a text
is redacted once however many records carry it: a system prompt or a retried call repeats within
a batch. Nothing is remembered past the batch, so no redacted text outlives the flush that wrote it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

NONE, HASHED, REDACTED, FULL = "none", "hashed", "redacted", "full"
_batch_redactions: ContextVar[dict[str, str] | None] = ContextVar("capture_batch_redactions", default=None)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def capture_for_buffer(level: str, prompt: str, output: str) -> dict[str, Any] | None:
    """What the request path puts in the usage buffer: nothing, digests only (`hashed`), or the texts
    for the flusher to redact or keep. Redaction runs in the flusher, off the request path."""
    if level == NONE:
        return None
    if level == HASHED:
        return {"level": HASHED, "prompt_sha256": digest(prompt), "output_sha256": digest(output)}
    if level not in (REDACTED, FULL):
        raise ValueError(f"unknown prompt-capture level {level!r}")
    return {"level": level, "prompt": prompt, "output": output}


def capture_finalize(buffered: dict[str, Any]) -> dict[str, Any]:
    """The capture as it is stored: redacted if the level says so, with digests of what is kept."""
    if buffered["level"] == HASHED:
        return buffered
    prompt, output = buffered["prompt"], buffered["output"]
    if buffered["level"] == REDACTED:
        prompt, output = _redact(prompt), _redact(output)
    return {
        "level": buffered["level"],
        "prompt": prompt,
        "output": output,
        "prompt_sha256": digest(prompt),
        "output_sha256": digest(output),
    }


@cache
def _redaction_policy() -> Any:
    from governance.guardrails.policy import PII_ENTITIES, GuardrailPolicy

    rules = [
        {"check": "pii", "direction": "input", "action": "mask", "entities": list(PII_ENTITIES)},
        {"check": "secrets", "direction": "input", "action": "mask"},
    ]
    return GuardrailPolicy.from_dict({"name": "prompt-capture-redaction", "scope": "central", "rules": rules})


@contextmanager
def capture_redaction_batch() -> Iterator[None]:
    """The scope of one flush batch: each distinct text in it is redacted once."""
    token = _batch_redactions.set({})
    try:
        yield
    finally:
        _batch_redactions.reset(token)


def _redact(text: str) -> str:
    if not text:
        return text
    redactions = _batch_redactions.get()
    if redactions is not None and text in redactions:
        return redactions[text]
    from governance.guardrails.engine import evaluate

    redacted = evaluate(text, _redaction_policy(), "input").text
    if redactions is not None:
        redactions[text] = redacted
    return redacted
