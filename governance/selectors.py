"""Reads of governance records for the portal and the management API."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.db.models import QuerySet

from .models import GuardrailPolicyRecord, GuardrailPolicyVersion, ModelApproval


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
