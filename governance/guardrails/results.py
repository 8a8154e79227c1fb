"""What a guardrail evaluation returns. Nothing here holds a sensitive value.

A `Finding` carries the entity type, the span in the evaluated text, a score and a keyed digest of
the value: enough to correlate repeated values in logs without being able to read them back.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from .policy import Action, Check, Direction


@dataclass(frozen=True)
class Finding:
    check: Check
    entity_type: str  # "EMAIL_ADDRESS", "AWS_ACCESS_KEY", "override.ignore_previous", "MAX_CHARS", ...
    start: int
    end: int
    score: float
    digest: str | None = None  # keyed BLAKE2b of the normalized value; None where there is no value
    detail: str = ""  # a non-sensitive note: "encoded:base64", "chars 2300 > 2000"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check": self.check.value,
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 3),
        }
        if self.digest:
            data["digest"] = self.digest
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass(frozen=True)
class CheckOutcome:
    """One rule's verdict: `action` is the rule's action when it found something, else None."""

    check: Check
    direction: Direction
    action: Action | None
    findings: tuple[Finding, ...]
    detector: str  # which method ran: "presidio-patterns", "detect-secrets", "heuristic", "classifier:<name>+heuristic"
    score: float = 0.0
    skipped: bool = False  # not run because an earlier check had already blocked
    error: str = ""  # the check failed: the exception's class, or "timeout"; its action is the policy's on_error

    @property
    def fired(self) -> bool:
        return self.action is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "direction": self.direction.value,
            "action": self.action.value if self.action else None,
            "detector": self.detector,
            "score": round(self.score, 3),
            "skipped": self.skipped,
            "findings": [finding.to_dict() for finding in self.findings],
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class GuardrailResult:
    """The verdict on one text: forward `text` (masked) unless `blocked`."""

    direction: Direction
    text: str
    blocked: bool
    blocked_by: Check | None
    outcomes: tuple[CheckOutcome, ...]
    policy_fingerprint: str
    elapsed_ms: float

    @property
    def actions(self) -> dict[Check, Action]:
        return {outcome.check: outcome.action for outcome in self.outcomes if outcome.action is not None}

    @property
    def errors(self) -> dict[Check, str]:
        """The checks that failed (raised or overran), with what happened."""
        return {outcome.check: outcome.error for outcome in self.outcomes if outcome.error}

    @property
    def failed(self) -> bool:
        """Blocked because a check failed, not because it found something (`guardrail_error`)."""
        blocking = self.outcome(self.blocked_by) if self.blocked_by is not None else None
        return blocking is not None and bool(blocking.error)

    @property
    def flagged(self) -> bool:
        return any(outcome.fired for outcome in self.outcomes)

    @property
    def masked(self) -> bool:
        return any(outcome.action is Action.MASK for outcome in self.outcomes)

    def outcome(self, check: Check) -> CheckOutcome | None:
        for outcome in self.outcomes:
            if outcome.check is check:
                return outcome
        return None

    def to_dict(self) -> dict[str, Any]:
        """For the audit log and metrics: verdicts and findings, never the evaluated text."""
        return {
            "direction": self.direction.value,
            "blocked": self.blocked,
            "blocked_by": self.blocked_by.value if self.blocked_by else None,
            "actions": {check.value: action.value for check, action in self.actions.items()},
            "policy": self.policy_fingerprint,
            **({"errors": {check.value: error for check, error in self.errors.items()}} if self.errors else {}),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
        }


def value_digest(value: str, key: bytes) -> str:
    """A keyed digest: unkeyed hashes of card numbers or SSNs can be reversed by enumeration."""
    return hmac.new(key, value.encode("utf-8"), hashlib.blake2b).hexdigest()[:24]
