"""Prompt capture for inference events, at the level the use case's approval sets.

- `none`: nothing of the content is kept;
- `hashed`: SHA-256 digests of the prompt and the answer (proves what was said without keeping it);
- `redacted`: the texts with personal data and secrets masked by the guardrail engine;
- `full`: the texts as they were.
The digests of whatever is kept always go into the audit event.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

NONE, HASHED, REDACTED, FULL = "none", "hashed", "redacted", "full"


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


def _redact(text: str) -> str:
    from governance.guardrails.engine import evaluate

    return evaluate(text, _redaction_policy(), "input").text if text else text
