"""Guarding a streamed answer: check over a sliding window, release what is safe, hold back the rest.

The guard never holds back more than `window` characters. Each time more than that has arrived it
runs the output rules over the held text (plus a little already-released text before it, so
context words such as "SSN:" still count) and releases everything but the last `window // 2`
characters, masked. So the rules run once per half window of new text, not once per token, and an
entity that began before the cut is complete by then as long as it is no longer than half the
window (128 characters by default): an e-mail address split over two chunks is masked whole. If a
detected entity straddles the cut, the cut moves to its end and it is released masked. A rule
whose action is block ends the stream: nothing more is released and `error_event` holds the final
event to send. A private key's PEM block is suppressed up to its END line however long it is.

Grounding needs the whole answer, so it runs in `finish()`; by then the text has been released,
so a blocking grounding rule can only end the stream with the error event.

    guard = StreamingGuard(policy, engine=engine)
    for delta in upstream:
        if released := guard.feed(delta):
            send(released)
        if guard.blocked:
            break
    if not guard.blocked and (rest := guard.finish()):
        send(rest)
    if guard.blocked:
        send(guard.error_event)
"""

from __future__ import annotations

import time
from typing import Any

from .detectors.base import Detection
from .detectors.size import estimate_tokens
from .engine import GuardrailEngine, default_engine, maskable_findings
from .masking import MaskingSession, apply_masks
from .policy import Action, Check, CheckRule, Direction, GuardrailPolicy, OnError
from .results import CheckOutcome, Finding, GuardrailResult

DEFAULT_WINDOW = 256
LEFT_CONTEXT = 64
_END_ONLY = frozenset({Check.GROUNDING, Check.SIZE})
_PEM_BEGIN = "PRIVATE KEY"
_PEM_END = "-----END"


class StreamingGuard:
    def __init__(
        self,
        policy: GuardrailPolicy,
        *,
        engine: GuardrailEngine | None = None,
        direction: Direction = Direction.OUTPUT,
        context: str | None = None,
        session: MaskingSession | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if window < 16:
            raise ValueError("window must be at least 16 characters")
        self._engine = engine or default_engine()
        self._policy = policy
        self._direction = Direction(direction)
        self._context = context
        self._session = session if session is not None else MaskingSession()
        self._window = window
        self._keep = window // 2
        rules = policy.rules_for(self._direction)
        self._window_rules = tuple(rule for rule in rules if rule.check not in _END_ONLY)
        self._size_rule = policy.rule(Check.SIZE, self._direction)
        self._final_rules = tuple(rule for rule in rules if rule.check is Check.GROUNDING)
        self._pending = ""
        self._tail = ""
        self._received: list[str] = []
        self._released: list[str] = []
        self._released_chars = 0
        self._chars = 0
        self._tokens = 0
        self._in_private_key = False
        self._pem_carry = ""
        self._findings: dict[Check, dict[tuple[str, int], Finding]] = {rule.check: {} for rule in rules}
        self._detectors: dict[Check, str] = {}
        self._scores: dict[Check, float] = {}
        self._started = time.perf_counter()
        self.blocked = False
        self.blocked_by: Check | None = None
        self.finished = False
        self.errors: dict[Check, str] = {}  # checks that failed (raised), as in GuardrailResult.errors

    @property
    def held_back(self) -> int:
        """Characters received but not yet released."""
        return len(self._pending)

    @property
    def error_event(self) -> dict[str, Any] | None:
        """The final event for a blocked stream (OpenAI-style error body), else None."""
        if not self.blocked or self.blocked_by is None:
            return None
        if self.blocked_by in self.errors:
            return {
                "error": {
                    "type": "guardrail_error",
                    "code": "guardrail_error",
                    "param": None,
                    "message": f"The response was stopped because the {self.blocked_by.value} guardrail failed.",
                    "check": self.blocked_by.value,
                }
            }
        return {
            "error": {
                "type": "guardrail_violation",
                "code": "output_blocked",
                "param": None,
                "message": f"The response was stopped by the {self.blocked_by.value} guardrail.",
                "check": self.blocked_by.value,
            }
        }

    def feed(self, chunk: str) -> str:
        """Takes the next piece of the answer; returns the text that is now safe to send."""
        if self.blocked or self.finished or not chunk:
            return ""
        if self._final_rules:
            self._received.append(chunk)
        if self._size_exceeded(chunk):
            return ""
        if self._in_private_key:
            chunk = self._skip_private_key(chunk)
            if not chunk:
                return ""
        self._pending += chunk
        if len(self._pending) <= self._window:
            return ""
        return self._release(final=False)

    def finish(self) -> str:
        """Releases what is still held back and runs the end-of-answer rules (grounding)."""
        if self.finished:
            return ""
        self.finished = True
        if self.blocked:
            return ""
        released = self._release(final=True) if self._pending else ""
        if not self.blocked:
            full = "".join(self._received)
            for rule in self._final_rules:
                detection = self._detect(full, rule)
                if detection is None:
                    break
                self._detectors[rule.check] = detection.detector
                self._scores[rule.check] = max(self._scores.get(rule.check, 0.0), detection.score)
                self._note(rule, detection.findings, 0)
                if detection.findings and rule.action is Action.BLOCK:
                    self._block(rule.check)
        return released

    def result(self) -> GuardrailResult:
        """The stream's verdict so far, as for a whole text (text = what was released)."""
        outcomes = []
        for rule in self._policy.rules_for(self._direction):
            findings = tuple(sorted(self._findings[rule.check].values(), key=lambda item: item.start))
            outcomes.append(
                CheckOutcome(
                    check=rule.check,
                    direction=rule.direction,
                    action=rule.action if findings else None,
                    findings=findings,
                    detector=self._detectors.get(rule.check, "not-run"),
                    score=self._scores.get(rule.check, 0.0),
                )
            )
        return GuardrailResult(
            direction=self._direction,
            text="".join(self._released),
            blocked=self.blocked,
            blocked_by=self.blocked_by,
            outcomes=tuple(outcomes),
            policy_fingerprint=self._policy.fingerprint(),
            elapsed_ms=(time.perf_counter() - self._started) * 1000,
        )

    def _release(self, *, final: bool) -> str:
        scan = self._tail + self._pending
        offset = len(self._tail)
        outcomes: list[CheckOutcome] = []
        for rule in self._window_rules:
            detection = self._detect(scan, rule)
            if detection is None:
                return ""
            fresh = tuple(_clip(finding, offset) for finding in detection.findings if finding.end > offset)
            outcome = CheckOutcome(
                rule.check, rule.direction, rule.action if fresh else None, fresh, detection.detector
            )
            outcomes.append(outcome)
            self._detectors[rule.check] = detection.detector
            self._scores[rule.check] = max(self._scores.get(rule.check, 0.0), detection.score)
            if fresh and rule.action is Action.BLOCK:
                self._note(rule, fresh, self._released_chars - offset)
                self._block(rule.check)
                return ""
        masks = maskable_findings(outcomes)
        cut = len(scan) if final else len(scan) - self._keep
        for finding in masks:
            if finding.start < cut < finding.end:
                cut = finding.end
        cut = max(cut, offset)
        # Only what is released now is recorded: a match in the held-back text may still change.
        for rule, outcome in zip(self._window_rules, outcomes, strict=True):
            self._note(
                rule,
                tuple(finding for finding in outcome.findings if finding.start < cut),
                self._released_chars - offset,
            )
        released_raw = scan[offset:cut]
        inside = [_shift(finding, -offset) for finding in masks if offset <= finding.start and finding.end <= cut]
        released = apply_masks(released_raw, inside, self._session)
        self._pending = scan[cut:]
        self._tail = (self._tail + released_raw)[-LEFT_CONTEXT:]
        self._released_chars += len(released_raw)
        self._released.append(released)
        if _PEM_BEGIN in released_raw and any(finding.entity_type == "PRIVATE_KEY" for finding in inside):
            last = released_raw.rfind(_PEM_BEGIN)
            if _PEM_END not in released_raw[last:]:
                # The header must not be read again as left context once the block is skipped.
                self._in_private_key, self._tail = True, ""
                self._pending = self._skip_private_key(self._pending)
        return released

    def _skip_private_key(self, text: str) -> str:
        """Drops key material up to and including the PEM END line, which may arrive in pieces."""
        text = self._pem_carry + text
        end = text.find(_PEM_END)
        if end == -1:
            self._pem_carry = text[-(len(_PEM_END) - 1) :]
            return ""
        close = text.find("-----", end + len(_PEM_END))
        if close == -1:
            self._pem_carry = text[end:]
            return ""
        self._pem_carry = ""
        self._in_private_key = False
        return text[close + len("-----") :]

    def _size_exceeded(self, chunk: str) -> bool:
        rule = self._size_rule
        if rule is None:
            return False
        self._chars += len(chunk)
        self._tokens += estimate_tokens(chunk)
        findings = []
        if rule.max_chars is not None and self._chars > rule.max_chars:
            findings.append(
                Finding(Check.SIZE, "MAX_CHARS", rule.max_chars, self._chars, 1.0, None, f"chars > {rule.max_chars}")
            )
        if rule.max_tokens is not None and self._tokens > rule.max_tokens:
            findings.append(Finding(Check.SIZE, "MAX_TOKENS", 0, self._chars, 1.0, None, f"tokens > {rule.max_tokens}"))
        if not findings:
            return False
        self._detectors[rule.check], self._scores[rule.check] = "size", 1.0
        self._note(rule, tuple(findings), 0)
        if rule.action is Action.BLOCK:
            self._block(Check.SIZE)
            return True
        return False

    def _detect(self, text: str, rule: CheckRule) -> Detection | None:
        """The rule's detection, or None when the check failed and the policy blocks on failure
        (the stream is then ended); a failure under `on_error: flag` counts as no finding."""
        try:
            return self._engine.detect(text, rule, self._context)
        except Exception as exc:  # a failed check is a verdict, never a pass
            self.errors[rule.check] = type(exc).__name__
            if self._policy.on_error is OnError.BLOCK:
                self._block(rule.check)
                return None
            return Detection((), "failed", 0.0)

    def _block(self, check: Check) -> None:
        self.blocked, self.blocked_by = True, check
        self._pending = ""

    def _note(self, rule: CheckRule, findings: tuple[Finding, ...], shift: int) -> None:
        seen = self._findings[rule.check]
        for finding in findings:
            absolute = _shift(finding, shift)
            seen.setdefault((absolute.entity_type, absolute.start if rule.check is not Check.SIZE else 0), absolute)


def _clip(finding: Finding, offset: int) -> Finding:
    if finding.start >= offset:
        return finding
    return Finding(
        finding.check, finding.entity_type, offset, finding.end, finding.score, finding.digest, finding.detail
    )


def _shift(finding: Finding, by: int) -> Finding:
    return Finding(
        finding.check,
        finding.entity_type,
        finding.start + by,
        finding.end + by,
        finding.score,
        finding.digest,
        finding.detail,
    )
