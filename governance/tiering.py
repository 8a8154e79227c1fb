"""Risk tiering: explicit rules from the intake's answers to a tier, an EU AI Act category, the
sign-offs a review needs and how long an approval lasts. Documented in docs/governance.md; change
the rules here and the documentation together."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import EuAiActCategory, Intake, RiskTier

#: The board sign-offs each tier needs (one approval per listed specialty; "any" = any reviewer).
REQUIRED_SIGN_OFFS: dict[str, tuple[str, ...]] = {
    RiskTier.LOW: ("any",),
    RiskTier.MEDIUM: ("security", "risk"),
    RiskTier.HIGH: ("security", "legal", "risk", "compliance"),
}

APPROVAL_VALIDITY: dict[str, dt.timedelta] = {
    RiskTier.LOW: dt.timedelta(days=365),
    RiskTier.MEDIUM: dt.timedelta(days=180),
    RiskTier.HIGH: dt.timedelta(days=90),
}

REVIEW_SLA: dict[str, dt.timedelta] = {
    RiskTier.LOW: dt.timedelta(days=3),
    RiskTier.MEDIUM: dt.timedelta(days=5),
    RiskTier.HIGH: dt.timedelta(days=10),
}

_TIER_ORDER = [RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH, RiskTier.PROHIBITED]


@dataclass(frozen=True)
class Tiering:
    tier: str
    eu_ai_act_category: str
    reasons: tuple[str, ...]


def tier_of(intake: Intake, *, data_classification: str) -> Tiering:
    """Applies the rules in order; the tier is the highest any rule reaches, with every reason kept."""
    tier, reasons = RiskTier.LOW, []

    def at_least(candidate: str, reason: str) -> None:
        nonlocal tier
        reasons.append(reason)
        if _TIER_ORDER.index(candidate) > _TIER_ORDER.index(tier):
            tier = candidate

    if intake.prohibited_practice != Intake.ProhibitedPractice.NONE:
        at_least(RiskTier.PROHIBITED, f"prohibited practice under the EU AI Act: {intake.prohibited_practice}")
    if intake.annex_iii_area != Intake.AnnexIIIArea.NONE:
        at_least(RiskTier.HIGH, f"high-risk area (EU AI Act Annex III): {intake.annex_iii_area}")
    if data_classification == "restricted":
        at_least(RiskTier.HIGH, "processes restricted data")
    if intake.autonomy == Intake.Autonomy.AUTONOMOUS and (intake.customer_facing or intake.personal_data):
        at_least(RiskTier.HIGH, "acts autonomously on customers or personal data")
    if intake.tools_and_actions and intake.autonomy != Intake.Autonomy.HUMAN_IN_THE_LOOP:
        at_least(RiskTier.MEDIUM, "takes actions through tools without a person approving each")
    if data_classification == "confidential":
        at_least(RiskTier.MEDIUM, "processes confidential data")
    if intake.personal_data:
        at_least(RiskTier.MEDIUM, "processes personal data")
    if intake.customer_facing:
        at_least(RiskTier.MEDIUM, "its outputs reach customers")
    if not reasons:
        reasons.append("internal use of public or internal data with a person in the loop")
    return Tiering(tier=tier, eu_ai_act_category=_eu_category(intake), reasons=tuple(reasons))


def _eu_category(intake: Intake) -> str:
    if intake.prohibited_practice != Intake.ProhibitedPractice.NONE:
        return EuAiActCategory.PROHIBITED_PRACTICE
    if intake.annex_iii_area != Intake.AnnexIIIArea.NONE:
        return EuAiActCategory.HIGH_RISK
    if intake.customer_facing or intake.generates_synthetic_media:
        return EuAiActCategory.TRANSPARENCY
    return EuAiActCategory.MINIMAL
