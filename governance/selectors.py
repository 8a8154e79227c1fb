"""Reads of governance records for the portal and the management API, and what other apps ask of
governance (the approval facts of a key's use case)."""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from .models import Approval, GuardrailPolicyRecord, GuardrailPolicyVersion, ModelApproval


def versions_diff(older: GuardrailPolicyVersion, newer: GuardrailPolicyVersion) -> dict[str, Any]:
    """What changed between two versions of one policy: rules added, removed and changed, and a
    line diff of their JSON documents."""

    def rules(version: GuardrailPolicyVersion) -> dict[str, dict[str, Any]]:
        return {f"{r['check']}/{r['direction']}": r for r in version.document.get("rules", [])}

    before, after = rules(older), rules(newer)
    lines = difflib.unified_diff(
        json.dumps(older.document, indent=2, sort_keys=True).splitlines(),
        json.dumps(newer.document, indent=2, sort_keys=True).splitlines(),
        fromfile=str(older),
        tofile=str(newer),
        lineterm="",
    )
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(key for key in set(before) & set(after) if before[key] != after[key]),
        "lines": list(lines),
    }


def version_previous(version: GuardrailPolicyVersion) -> GuardrailPolicyVersion | None:
    """What a version is compared with by default: a draft with the latest published version, a
    published version with the one published before it."""
    published = version.policy.versions.filter(status=GuardrailPolicyVersion.Status.PUBLISHED).exclude(pk=version.pk)
    if version.number is not None:
        published = published.filter(number__lt=version.number)
    return published.order_by("-number").first()


def guardrail_policies() -> QuerySet[GuardrailPolicyRecord]:
    return GuardrailPolicyRecord.objects.select_related("lob", "use_case__lob").prefetch_related("versions")


def guardrail_versions() -> QuerySet[GuardrailPolicyVersion]:
    return GuardrailPolicyVersion.objects.select_related("policy__lob", "policy__use_case__lob")


def model_approvals() -> QuerySet[ModelApproval]:
    return ModelApproval.objects.select_related("alias").order_by("alias__name")


# ---- what the gateway's view of a key asks of governance ----


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
