"""Reads of governance records for the portal and the management API: guardrail policy versions
and their diffs, model approvals, the board's queue, a review's rounds and what changed between
them, who may read a review (and so download its evidence), a use case's governance status; and
what other apps ask of governance (the approval facts of a key's use case)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from genai_platform.access.models import CENTRAL
from genai_platform.access.selectors import user_can, user_can_in_lob
from lob_tenants.models import Membership, UseCase

from .models import (
    Approval,
    GuardrailPolicyRecord,
    GuardrailPolicyVersion,
    Intake,
    ModelApproval,
    Review,
    ReviewDecision,
)


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


# ---- reviews ----


def reviews_for_board(*, status: str | None = Review.Status.OPEN) -> QuerySet[Review]:
    """The board's queue, soonest due first; `status=None` for every round of every LOB."""
    reviews = Review.objects.select_related("use_case__lob", "submitted_by").prefetch_related(
        Prefetch("decisions", queryset=ReviewDecision.objects.select_related("reviewer").order_by("decided_at"))
    )
    if status is not None:
        reviews = reviews.filter(status=status)
    return reviews.order_by("sla_due_at", "pk")


def reviews_of(use_case: UseCase) -> QuerySet[Review]:
    """Every round of one use case, newest first, with its decisions (what the LOB reads)."""
    return (
        Review.objects.filter(use_case=use_case)
        .select_related("use_case__lob", "submitted_by")
        .prefetch_related(
            Prefetch("decisions", queryset=ReviewDecision.objects.select_related("reviewer").order_by("decided_at"))
        )
        .order_by("-submitted_at", "-pk")
    )


def review_readable_by(user: Any, review: Review) -> bool:
    """The board (`review` read in `central`) reads every review; a LOB's members read their own use
    cases' reviews (`use_case` read in the LOB). Evidence files follow the same rule."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user_can(user, CENTRAL, "review", "read"):
        return True
    lob = review.use_case.lob
    return Membership.objects.filter(user=user, lob=lob).exists() and user_can_in_lob(user, lob, "use_case", "read")


def review_previous(review: Review) -> Review | None:
    """The round before `review` of the same use case (None for the first)."""
    return (
        Review.objects.filter(use_case_id=review.use_case_id, submitted_at__lt=review.submitted_at)
        .order_by("-submitted_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class Change:
    """One answer that differs between two rounds."""

    field: str
    label: str
    before: Any
    after: Any


def _labels() -> dict[str, str]:
    labels = {f.name: str(f.verbose_name) for f in Intake._meta.get_fields() if hasattr(f, "verbose_name")}
    return labels | {"aliases": "models requested", "data_classification": "data classification"}


def review_changes(review: Review, *, previous: Review | None = None) -> list[Change]:
    """What changed in the submission since the previous round: intake answers, the models asked
    for and the data classification. Empty for a first round. Computed tier fields are left out:
    they follow from the answers."""
    previous = previous if previous is not None else review_previous(review)
    if previous is None:
        return []
    computed = {"risk_tier", "eu_ai_act_category", "tier_reasons", "updated_at"}
    now = {**review.snapshot.get("intake", {}), **_submission_extras(review.snapshot)}
    then = {**previous.snapshot.get("intake", {}), **_submission_extras(previous.snapshot)}
    labels = _labels()
    return [
        Change(field=name, label=labels.get(name, name.replace("_", " ")), before=then.get(name), after=now.get(name))
        for name in sorted(set(now) | set(then), key=lambda n: (n not in labels, n))
        if name not in computed and now.get(name) != then.get(name)
    ]


def _submission_extras(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"aliases": snapshot.get("aliases", []), "data_classification": snapshot.get("data_classification")}


def approval_current(use_case: UseCase) -> Approval | None:
    """The approval production traffic runs under (current, or suspended while the board looks)."""
    return (
        Approval.objects.filter(use_case=use_case, status__in=[Approval.Status.CURRENT, Approval.Status.SUSPENDED])
        .prefetch_related("allowed_aliases")
        .order_by("-approved_at")
        .first()
    )


def intake_of(use_case: UseCase) -> Intake | None:
    return Intake.objects.filter(use_case=use_case).first()


def missing_sign_offs(review: Review) -> list[str]:
    """The required specialties that have not approved yet (`any`: until one board member has)."""
    approved = {d.specialty for d in review.decisions.all() if d.verdict == ReviewDecision.Verdict.APPROVE}
    if list(review.required_specialties) == ["any"]:
        return [] if approved else ["any"]
    return [s for s in review.required_specialties if s not in approved]


def reviews_waiting_for(user: Any) -> QuerySet[Review]:
    """Open reviews a board member can still decide: not yet decided by them, not of their own LOBs."""
    own_lobs = Membership.objects.filter(user=user).values("lob_id")
    return (
        reviews_for_board()
        .exclude(decisions__reviewer=user)
        .exclude(use_case__lob_id__in=own_lobs)
        .exclude(submitted_by=user)
    )
