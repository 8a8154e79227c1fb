"""Shadow mode: run a candidate policy beside the enforced one and compare, without applying it.

The candidate runs detect-only: every one of its checks runs (nothing is skipped after a block),
its masks and blocks are reported but never applied, and it uses its own masking session so the
conversation's placeholders are not disturbed. The comparison says, per (check, direction), what
the enforced policy did and what the candidate would have done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .engine import GuardrailEngine, default_engine
from .masking import MaskingSession
from .policy import Action, Check, Direction, GuardrailPolicy
from .results import GuardrailResult


@dataclass(frozen=True)
class ShadowCheck:
    check: Check
    direction: Direction
    enforced: Action | None  # what the enforced policy did (None: nothing found, or no rule)
    candidate: Action | None  # what the candidate would have done
    enforced_findings: int
    candidate_findings: int

    @property
    def changed(self) -> bool:
        return self.enforced != self.candidate

    @property
    def stricter(self) -> bool:
        """The candidate would have acted more strongly here."""
        return _rank(self.candidate) > _rank(self.enforced)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check.value,
            "direction": self.direction.value,
            "enforced": self.enforced.value if self.enforced else None,
            "candidate": self.candidate.value if self.candidate else None,
            "enforced_findings": self.enforced_findings,
            "candidate_findings": self.candidate_findings,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class ShadowComparison:
    enforced: GuardrailResult
    candidate: GuardrailResult
    checks: tuple[ShadowCheck, ...]

    @property
    def would_block(self) -> bool:
        return self.candidate.blocked

    @property
    def changed(self) -> bool:
        return any(check.changed for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """For metrics and the audit log: verdicts only, no text."""
        return {
            "enforced_policy": self.enforced.policy_fingerprint,
            "candidate_policy": self.candidate.policy_fingerprint,
            "enforced_blocked": self.enforced.blocked,
            "candidate_would_block": self.would_block,
            "changed": self.changed,
            "checks": [check.to_dict() for check in self.checks],
        }


def compare(enforced: GuardrailResult, candidate: GuardrailResult) -> ShadowComparison:
    """Per-check comparison of two results for the same text and direction."""
    if enforced.direction is not candidate.direction:
        raise ValueError("compare results of the same direction")
    enforced_by = {outcome.check: outcome for outcome in enforced.outcomes}
    candidate_by = {outcome.check: outcome for outcome in candidate.outcomes}
    checks = []
    for check in Check:
        mine, theirs = enforced_by.get(check), candidate_by.get(check)
        if mine is None and theirs is None:
            continue
        checks.append(
            ShadowCheck(
                check=check,
                direction=enforced.direction,
                enforced=mine.action if mine else None,
                candidate=theirs.action if theirs else None,
                enforced_findings=len(mine.findings) if mine else 0,
                candidate_findings=len(theirs.findings) if theirs else 0,
            )
        )
    return ShadowComparison(enforced, candidate, tuple(checks))


def shadow_evaluate(
    text: str,
    candidate: GuardrailPolicy,
    direction: Direction,
    enforced_result: GuardrailResult,
    context: str | None = None,
    *,
    engine: GuardrailEngine | None = None,
) -> ShadowComparison:
    """The candidate's detect-only verdict on `text`, compared with the result already enforced."""
    engine = engine or default_engine()
    shadow = engine.evaluate(
        text, candidate, Direction(direction), context, session=MaskingSession(), stop_on_block=False
    )
    return compare(enforced_result, shadow)


def shadow_compare(
    text: str,
    enforced: GuardrailPolicy,
    candidate: GuardrailPolicy,
    direction: Direction,
    context: str | None = None,
    *,
    engine: GuardrailEngine | None = None,
    session: MaskingSession | None = None,
) -> ShadowComparison:
    """Evaluates `enforced` for real and `candidate` detect-only on `text`, and compares them."""
    engine = engine or default_engine()
    applied = engine.evaluate(text, enforced, Direction(direction), context, session=session, stop_on_block=False)
    return shadow_evaluate(text, candidate, direction, applied, context, engine=engine)


def _rank(action: Action | None) -> int:
    return -1 if action is None else action.rank
