"""What other apps ask of governance about a use case: the facts of its current approval, as the
gateway's view of a key (`inference.principal.KeyPrincipal`) applies them. Kept apart from the
portal's and the API's selectors, which know people and permissions: the call path must not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .models import Approval, ModelApproval


@dataclass(frozen=True)
class ApprovalFacts:
    """The use case's current approval as the gateway applies it; `status` is "none" without one."""

    status: str
    expires_at: dt.datetime | None
    allowed_aliases: frozenset[str]
    prompt_capture: str


NO_APPROVAL = ApprovalFacts(status="none", expires_at=None, allowed_aliases=frozenset(), prompt_capture="none")


def use_case_approval(*, use_case_id: int) -> ApprovalFacts:
    """The latest approval that was neither superseded nor retired (current, suspended or expired)."""
    approval = (
        Approval.objects.filter(use_case_id=use_case_id)
        .exclude(status__in=[Approval.Status.SUPERSEDED, Approval.Status.RETIRED])
        .order_by("-approved_at")
        .first()
    )
    if approval is None:
        return NO_APPROVAL
    return ApprovalFacts(
        status=approval.status,
        expires_at=approval.expires_at,
        allowed_aliases=frozenset(approval.allowed_aliases.values_list("name", flat=True)),
        prompt_capture=approval.prompt_capture,
    )


def aliases_approved_for(*, classification: str, among: Iterable[str]) -> frozenset[str]:
    """Which of the aliases `among` the central team approved for data of `classification`."""
    return frozenset(
        name
        for name, classifications in ModelApproval.objects.filter(alias__name__in=list(among)).values_list(
            "alias__name", "classifications"
        )
        if classification in classifications
    )
