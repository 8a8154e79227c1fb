"""Prompt capture for inference events, at the level the use case's approval sets.

- `none`: nothing of the content is kept;
- `hashed`: SHA-256 digests of the prompt and the answer (proves what was said without keeping it);
- `redacted`: the texts with personal data and secrets masked by the guardrail engine;
- `full`: the texts as they were.
The digests of whatever is kept always go into the audit event.

Redaction runs in the calling process once the answer is released (`genai_platform.ledger.capturing`,
a small bounded pool), never in the ledger flusher, and only where the call's own guardrails have not
done it already. The usage record is buffered first, with `capture_pending` digests of what was said
and no text; the redacted capture follows as an entry of its own.

A message the call's input rules masked, or an answer its output rules masked, under rules that mask
at least what the redaction policy masks (`redaction_covered`), is a redacted capture as it is: the
request path passes those texts to `capture_for_buffer`, which marks them done, and the redaction
pool redacts only the rest (typically the system prompt, the same in every call, and earlier
assistant turns).

Inside `capture_redaction_batch()` (a batch of captures finalized together) a text is redacted once
however many captures carry it. Nothing is remembered past the batch (the guardrail engine's
detection cache keeps spans and keyed digests of texts, never texts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from governance.guardrails.policy import Direction, GuardrailPolicy
    from governance.guardrails.results import GuardrailResult

NONE, HASHED, REDACTED, FULL = "none", "hashed", "redacted", "full"
_batch_redactions: ContextVar[dict[str, str] | None] = ContextVar("capture_batch_redactions", default=None)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def capture_for_buffer(
    level: str, prompt: str, output: str, *, redacted: Collection[str] = ()
) -> dict[str, Any] | None:
    """What the request path hands the ledger: nothing, digests only (`hashed`), or the texts to
    redact or keep. Redaction runs later, in this process's redaction pool (`genai_platform.ledger`).

    `redacted` are texts the call's guardrails already masked under rules that cover the redaction
    policy (`redaction_covered`): the answer, and each message of the prompt's `role: text` lines,
    that is one of them is marked done and not scanned again."""
    if level == NONE:
        return None
    if level == HASHED:
        return {"level": HASHED, "prompt_sha256": digest(prompt), "output_sha256": digest(output)}
    if level not in (REDACTED, FULL):
        raise ValueError(f"unknown prompt-capture level {level!r}")
    if level == REDACTED and redacted:
        done = {text for text in redacted if text}
        return {"level": REDACTED, "prompt_parts": _parts(prompt, done), "output_parts": _parts(output, done)}
    return {"level": level, "prompt": prompt, "output": output}


def _parts(text: str, done: set[str]) -> list[list[Any]]:
    """`text` cut into `[piece, already_redacted]` parts. The whole text, or a line's remainder after
    a transcript's `role: ` (from just after ": " to the line's end), that is in `done` is done;
    everything between is left for the redaction pool."""
    if not text or text in done:
        return [[text, True]] if text else []
    spans: list[tuple[int, int]] = []
    for piece in sorted(done, key=len, reverse=True):
        start = text.find(piece)
        while start != -1:
            end = start + len(piece)
            aligned = text[max(0, start - 2) : start] == ": " and (end == len(text) or text[end] == "\n")
            if aligned and not any(s < end and start < e for s, e in spans):
                spans.append((start, end))
            start = text.find(piece, start + 1)
    parts: list[list[Any]] = []
    cursor = 0
    for start, end in sorted(spans):
        if start > cursor:
            parts.append([text[cursor:start], False])
        parts.append([text[start:end], True])
        cursor = end
    if cursor < len(text):
        parts.append([text[cursor:], False])
    return parts


def redaction_covered(policy: GuardrailPolicy, direction: Direction, result: GuardrailResult) -> bool:
    """Whether `result.text` is already what a redacted capture may store: `policy` masks (or
    blocks) in `direction` every type the redaction policy masks, at its threshold or a stricter
    one, and those checks ran on this text without error or skipping."""
    ran = {outcome.check: outcome for outcome in result.outcomes}
    for wanted in _redaction_policy().rules:
        rule = policy.rule(wanted.check, direction)
        outcome = ran.get(wanted.check)
        if rule is None or outcome is None or outcome.skipped or outcome.error:
            return False
        if rule.action.value not in ("mask", "block") or not set(wanted.entities) <= set(rule.entities):
            return False
        if (rule.effective_threshold or 0.0) > (wanted.effective_threshold or 0.0):
            return False
    return True


def capture_needs_redaction(buffered: dict[str, Any] | None) -> bool:
    """Whether a capture from `capture_for_buffer` still holds text to redact (level `redacted`)."""
    return buffered is not None and buffered["level"] == REDACTED and "redaction" not in buffered


def capture_pending(buffered: dict[str, Any], *, redaction: str) -> dict[str, Any]:
    """What the usage record keeps of a `redacted` capture whose redaction runs later (`redaction`:
    "pending") or never ("skipped", the redaction pool being full): the digests of what was said,
    as a `hashed` capture keeps them, and no text."""
    prompt, output = _said(buffered, "prompt"), _said(buffered, "output")
    return {"level": REDACTED, "redaction": redaction, "prompt_sha256": digest(prompt), "output_sha256": digest(output)}


def _said(buffered: dict[str, Any], field: str) -> str:
    if f"{field}_parts" in buffered:
        return "".join(piece for piece, _ in buffered[f"{field}_parts"])
    return str(buffered[field])


def capture_digests(capture: dict[str, Any] | None) -> dict[str, Any]:
    """What the audit event keeps of a capture: its level and digests, never its texts."""
    return {k: v for k, v in (capture or {"level": NONE}).items() if k not in ("prompt", "output")}


def capture_finalize(buffered: dict[str, Any]) -> dict[str, Any]:
    """The capture as it is stored: redacted if the level says so, with digests of what is kept."""
    if buffered["level"] == HASHED or "redaction" in buffered:
        return buffered
    if "prompt_parts" in buffered:  # what the call's guardrails masked is kept, the rest redacted here
        prompt = "".join(piece if done else _redact(piece) for piece, done in buffered["prompt_parts"])
        output = "".join(piece if done else _redact(piece) for piece, done in buffered["output_parts"])
    elif buffered["level"] == REDACTED:
        prompt, output = _redact(buffered["prompt"]), _redact(buffered["output"])
    else:
        prompt, output = buffered["prompt"], buffered["output"]
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
