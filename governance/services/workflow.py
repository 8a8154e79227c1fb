"""The use-case approval workflow: intake, submission, board review with quorum and four-eyes,
approvals with conditions and expiry, material changes, suspension and retirement.

Every transition goes through `_transition`, which refuses anything the state machine does not
allow and writes the audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from genai_platform import hotcache
from genai_platform.access.models import CentralRoleAssignment
from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.metering.services import budget_set
from genai_platform.notifications import notify
from lob_tenants.models import DataClassification, Membership, UseCase
from lob_tenants.services import api_keys_forget
from model_catalog.models import Alias

from ..models import Approval, Intake, ModelApproval, Review, ReviewDecision, RiskTier
from ..tiering import APPROVAL_VALIDITY, REQUIRED_SIGN_OFFS, REVIEW_SLA, tier_of

S = UseCase.Status

#: The use-case state machine: from each state, the states it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.RETIRED}),
    S.SUBMITTED: frozenset({S.IN_REVIEW, S.DRAFT, S.RETIRED}),
    S.IN_REVIEW: frozenset({S.APPROVED, S.CHANGES_REQUESTED, S.REJECTED, S.DRAFT}),
    S.CHANGES_REQUESTED: frozenset({S.SUBMITTED, S.RETIRED}),
    S.REJECTED: frozenset({S.RETIRED}),
    S.APPROVED: frozenset({S.EXPIRED, S.SUSPENDED, S.RETIRED, S.SUBMITTED}),
    S.EXPIRED: frozenset({S.SUBMITTED, S.RETIRED}),
    S.SUSPENDED: frozenset({S.APPROVED, S.RETIRED}),
    S.RETIRED: frozenset(),
}

#: Intake answers whose change sends an approved use case back to review.
MATERIAL_FIELDS = ("autonomy", "tools_and_actions", "personal_data", "customer_facing", "annex_iii_area")


def _transition(use_case: UseCase, target: str, *, actor: Any, reason: str = "") -> None:
    current = use_case.status
    if target not in TRANSITIONS[current]:
        raise ValidationError(
            f"A use case that is {current.replace('_', ' ')} cannot become {target.replace('_', ' ')}."
        )
    use_case.status = target
    use_case.save(update_fields=["status"])
    audit_record(
        actor=audit_actor(actor),
        action=f"use_case.{target}",
        target=use_case,
        lob_slug=use_case.lob.slug,
        before={"status": current},
        after={"status": target, "reason": reason} if reason else {"status": target},
    )
    api_keys_forget(use_case)


def _locked(use_case: UseCase) -> UseCase:
    """The use case as the database has it now, locked for this transaction: decisions never act on a stale copy."""
    return UseCase.objects.select_for_update().select_related("lob").get(pk=use_case.pk)


# ---- intake ----


@transaction.atomic
def intake_save(*, use_case: UseCase, actor: Any, data_classification: str | None = None, **answers: Any) -> Intake:
    """Records the intake (and the data classification the use case declares) and computes the tier.
    Changing a material answer of an approved use case sends it back to review; its current
    approval keeps serving until the board decides."""
    intake = Intake.objects.filter(use_case=use_case).first() or Intake(use_case=use_case)
    before = {field: getattr(intake, field) for field in MATERIAL_FIELDS} if intake.pk else None
    classification_changed = False
    if data_classification is not None and data_classification != use_case.data_classification:
        from lob_tenants.models import DataClassification

        if data_classification not in DataClassification.values:
            raise ValidationError({"data_classification": f"Unknown data classification {data_classification!r}."})
        audit_record(
            actor=audit_actor(actor),
            action="use_case.classified",
            target=use_case,
            lob_slug=use_case.lob.slug,
            before={"data_classification": use_case.data_classification},
            after={"data_classification": data_classification},
        )
        use_case.data_classification = data_classification
        use_case.save(update_fields=["data_classification"])
        api_keys_forget(use_case)
        classification_changed = before is not None
    for name, value in answers.items():
        setattr(intake, name, value)
    tiering = tier_of(intake, data_classification=use_case.data_classification)
    intake.risk_tier, intake.eu_ai_act_category = tiering.tier, tiering.eu_ai_act_category
    intake.tier_reasons = list(tiering.reasons)
    intake.full_clean(exclude=["use_case"])
    intake.save()
    audit_record(
        actor=audit_actor(actor),
        action="intake.saved",
        target=intake,
        lob_slug=use_case.lob.slug,
        after={"risk_tier": intake.risk_tier, "eu_ai_act_category": intake.eu_ai_act_category},
    )
    changed = [f for f in MATERIAL_FIELDS if before is not None and before[f] != getattr(intake, f)]
    changed += ["data_classification"] if classification_changed else []
    if changed and use_case.status == S.APPROVED:
        use_case_material_change(use_case=use_case, actor=actor, what=", ".join(changed))
    return intake


# ---- submission and review ----


@transaction.atomic
def use_case_submit(*, use_case: UseCase, actor: Any, material_change: bool = False, answer: str = "") -> Review:
    """Opens a review round on a snapshot of the intake and models. After the board requested
    changes, `answer` (what the LOB changed and why) is required: the next round's reviewers read it
    beside what changed since their last round."""
    use_case = _locked(use_case)
    intake = Intake.objects.filter(use_case=use_case).first()
    if intake is None:
        raise ValidationError("Complete the intake before submitting the use case for review.")
    answer = answer.strip()
    if use_case.status == S.CHANGES_REQUESTED and not answer:
        raise ValidationError({"answer": "Answer the reviewers' requested changes before submitting again."})
    if intake.risk_tier == RiskTier.PROHIBITED:
        raise ValidationError(
            "This use case is a prohibited practice under the EU AI Act and cannot be submitted: "
            + "; ".join(intake.tier_reasons)
        )
    if not use_case.aliases.exists():
        raise ValidationError("Choose the models (aliases) the use case needs before submitting it.")
    _transition(use_case, S.SUBMITTED, actor=actor, reason="material change" if material_change else "")
    now = timezone.now()
    return Review.objects.create(
        use_case=use_case,
        risk_tier=intake.risk_tier,
        required_specialties=list(REQUIRED_SIGN_OFFS[intake.risk_tier]),
        snapshot={
            "intake": json.loads(json.dumps(model_to_dict(intake, exclude=["id", "use_case"]), cls=DjangoJSONEncoder)),
            "aliases": sorted(use_case.aliases.values_list("name", flat=True)),
            "data_classification": use_case.data_classification,
            "answer": answer,
        },
        material_change=material_change,
        submitted_by=actor,
        submitted_at=now,
        sla_due_at=now + REVIEW_SLA[intake.risk_tier],
    )


def use_case_material_change(*, use_case: UseCase, actor: Any, what: str) -> Review:
    """A new model, vector store, agent tool, data classification or autonomy level: back to review."""
    if use_case.status != S.APPROVED:
        raise ValidationError("Only an approved use case can have a material change reviewed.")
    audit_record(
        actor=audit_actor(actor),
        action="use_case.material_change",
        target=use_case,
        lob_slug=use_case.lob.slug,
        after={"changed": what},
    )
    return use_case_submit(use_case=use_case, actor=actor, material_change=True)


@transaction.atomic
def review_decide(
    *,
    review: Review,
    reviewer: Any,
    verdict: str,
    comment: str,
    evidence: Any = None,
    conditions: dict[str, Any] | None = None,
) -> Review:
    """A board member's decision. Four-eyes: nobody of the submitting LOB decides. The review is
    approved when every required specialty has approved; one rejection or request for changes
    decides it at once."""

    review = Review.objects.select_for_update().select_related("use_case__lob").get(pk=review.pk)
    use_case = review.use_case
    if review.status != Review.Status.OPEN:
        raise ValidationError(f"This review is already {review.status.replace('_', ' ')}.")
    if not comment.strip():
        raise ValidationError("Every decision needs a comment.")
    role = CentralRoleAssignment.objects.filter(user=reviewer, role="governance_reviewer").first()
    if role is None:
        raise PermissionDenied("only members of the governance board decide on use cases")
    if reviewer.pk == review.submitted_by_id or Membership.objects.filter(user=reviewer, lob=use_case.lob).exists():
        raise PermissionDenied("four-eyes: nobody from the submitting LOB decides on its use case")
    if ReviewDecision.objects.filter(review=review, reviewer=reviewer).exists():
        raise ValidationError("You have already decided on this review.")
    decision = ReviewDecision.objects.create(
        review=review,
        reviewer=reviewer,
        specialty=role.specialty,
        verdict=verdict,
        comment=comment.strip(),
        evidence=evidence or "",
    )
    audit_record(
        actor=audit_actor(reviewer),
        action=f"review.{verdict}",
        target=review,
        lob_slug=use_case.lob.slug,
        after={"specialty": role.specialty, "comment": decision.comment, "evidence": bool(evidence)},
    )
    if use_case.status == S.SUBMITTED:
        _transition(use_case, S.IN_REVIEW, actor=reviewer)
    now = timezone.now()
    if verdict == ReviewDecision.Verdict.APPROVE:
        if not _quorum_reached(review):
            return review
        review.status, review.decided_at = Review.Status.APPROVED, now
        review.save(update_fields=["status", "decided_at"])
        _transition(use_case, S.APPROVED, actor=reviewer)
        approval_issue(use_case=use_case, review=review, actor=reviewer, **(conditions or {}))
        return review
    outcome = S.REJECTED if verdict == ReviewDecision.Verdict.REJECT else S.CHANGES_REQUESTED
    review.status = Review.Status.REJECTED if outcome == S.REJECTED else Review.Status.CHANGES_REQUESTED
    review.decided_at = now
    review.save(update_fields=["status", "decided_at"])
    _transition(use_case, outcome, actor=reviewer, reason=decision.comment)
    if outcome == S.REJECTED:
        # A rejected change ends the approval it would have replaced.
        _end_current_approval(use_case, Approval.Status.SUPERSEDED, actor=reviewer)
    return review


def _quorum_reached(review: Review) -> bool:
    approvals = review.decisions.filter(verdict=ReviewDecision.Verdict.APPROVE)
    approved_specialties = set(approvals.values_list("specialty", flat=True))
    required = set(review.required_specialties)
    if required == {"any"}:
        return bool(approved_specialties)
    return required <= approved_specialties


# ---- approvals ----


def approval_issue(
    *,
    use_case: UseCase,
    actor: Any,
    review: Review | None = None,
    allowed_aliases: list[Alias] | None = None,
    expires_at: dt.datetime | None = None,
    guardrail_policy_version: str = "",
    monthly_budget_cap_usd: Decimal | None = None,
    prompt_capture: str = Approval.PromptCapture.NONE,
    human_review_of_outputs: bool = False,
) -> Approval:
    """Makes a new current approval (superseding the previous one) with its runtime conditions.
    Called when a review reaches quorum; `allowed_aliases` defaults to what the review saw."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("approval_issue runs inside the transaction of the decision")
    _end_current_approval(use_case, Approval.Status.SUPERSEDED, actor=actor)
    tier = review.risk_tier if review is not None else RiskTier.LOW
    now = timezone.now()
    approval = Approval.objects.create(
        use_case=use_case,
        review=review,
        approved_at=now,
        expires_at=expires_at or now + APPROVAL_VALIDITY[tier],
        guardrail_policy_version=guardrail_policy_version,
        monthly_budget_cap_usd=monthly_budget_cap_usd,
        prompt_capture=prompt_capture,
        human_review_of_outputs=human_review_of_outputs,
    )
    if allowed_aliases is None:
        names = review.snapshot["aliases"] if review is not None else use_case.aliases.values_list("name", flat=True)
        allowed_aliases = list(Alias.objects.filter(name__in=list(names)))
    approval.allowed_aliases.set(allowed_aliases)
    if guardrail_policy_version:
        transaction.on_commit(lambda: hotcache.generation_bump("guardrails"))
    if monthly_budget_cap_usd is not None:
        # The cap is enforced like any budget: reserved before each call, refused with budget_exceeded.

        budget_set(use_case=use_case, monthly_limit_usd=monthly_budget_cap_usd, hard_limit=True, actor=actor)
    audit_record(
        actor=audit_actor(actor),
        action="approval.issued",
        target=approval,
        lob_slug=use_case.lob.slug,
        after={
            "expires_at": approval.expires_at.isoformat(),
            "allowed_aliases": sorted(a.name for a in allowed_aliases),
            "prompt_capture": prompt_capture,
            "human_review_of_outputs": human_review_of_outputs,
            "monthly_budget_cap_usd": str(monthly_budget_cap_usd) if monthly_budget_cap_usd is not None else None,
            "guardrail_policy_version": guardrail_policy_version,
        },
    )
    api_keys_forget(use_case)
    return approval


def _end_current_approval(use_case: UseCase, status: str, *, actor: Any) -> None:
    current = Approval.objects.filter(use_case=use_case, status=Approval.Status.CURRENT).first()
    if current is None:
        return
    current.status = status
    current.save(update_fields=["status"])
    audit_record(
        actor=audit_actor(actor),
        action=f"approval.{status}",
        target=current,
        lob_slug=use_case.lob.slug,
    )
    api_keys_forget(use_case)


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ValidationError({"reason": "Say why, for the LOB and the audit log."})


@transaction.atomic
def use_case_suspend(*, use_case: UseCase, actor: Any, reason: str) -> None:
    """Stops production traffic at once (the board, e.g. after an incident): the current approval is
    suspended, not ended, so the board can reinstate it while it has not expired."""
    _require_reason(reason)
    use_case = _locked(use_case)
    _transition(use_case, S.SUSPENDED, actor=actor, reason=reason)
    Approval.objects.filter(use_case=use_case, status=Approval.Status.CURRENT).update(status=Approval.Status.SUSPENDED)


@transaction.atomic
def use_case_reinstate(*, use_case: UseCase, actor: Any, reason: str) -> None:
    """Lifts a suspension: the suspended approval serves again, with its conditions and expiry."""
    _require_reason(reason)
    use_case = _locked(use_case)
    latest = Approval.objects.filter(use_case=use_case, status=Approval.Status.SUSPENDED).first()
    if latest is None or latest.expires_at <= timezone.now():
        raise ValidationError("There is no unexpired suspended approval to reinstate; submit the use case again.")
    _transition(use_case, S.APPROVED, actor=actor, reason=reason)
    latest.status = Approval.Status.CURRENT
    latest.save(update_fields=["status"])


@transaction.atomic
def use_case_withdraw(*, use_case: UseCase, actor: Any, reason: str = "") -> UseCase:
    """The LOB takes a submitted use case back before the board decides: the open review is
    withdrawn (its decisions so far stay on record) and the use case is a draft again."""
    use_case = _locked(use_case)
    if use_case.status not in (S.SUBMITTED, S.IN_REVIEW):
        raise ValidationError("Only a use case waiting for the board's decision can be withdrawn.")
    _transition(use_case, S.DRAFT, actor=actor, reason=reason.strip() or "withdrawn by the LOB")
    for review in Review.objects.filter(use_case=use_case, status=Review.Status.OPEN):
        review.status, review.decided_at = Review.Status.WITHDRAWN, timezone.now()
        review.save(update_fields=["status", "decided_at"])
        audit_record(
            actor=audit_actor(actor),
            action="review.withdrawn",
            target=review,
            lob_slug=use_case.lob.slug,
            after={"reason": reason.strip()},
        )
    return use_case


@transaction.atomic
def use_case_retire(*, use_case: UseCase, actor: Any) -> None:
    use_case = _locked(use_case)
    _transition(use_case, S.RETIRED, actor=actor)
    _end_current_approval(use_case, Approval.Status.RETIRED, actor=actor)
    Review.objects.filter(use_case=use_case, status=Review.Status.OPEN).update(status=Review.Status.WITHDRAWN)


def approvals_expire_due(*, now: dt.datetime | None = None) -> int:
    """Ends every current approval past its date (beat runs this); the use case becomes expired."""
    now = now or timezone.now()
    expired = 0
    for approval in Approval.objects.filter(status=Approval.Status.CURRENT, expires_at__lte=now).select_related(
        "use_case__lob"
    ):
        with transaction.atomic():
            _end_current_approval(approval.use_case, Approval.Status.EXPIRED, actor="system")
            if approval.use_case.status == S.APPROVED:
                _transition(approval.use_case, S.EXPIRED, actor="system", reason="approval expired")
            expired += 1
    return expired


@transaction.atomic
def model_approval_set(*, alias: Alias, classifications: list[str], actor: Any) -> ModelApproval:
    """The central team approves an alias for the data classifications it may receive."""

    unknown = set(classifications) - set(DataClassification.values)
    if unknown:
        raise ValidationError(f"Unknown data classifications: {', '.join(sorted(unknown))}.")
    approval, _ = ModelApproval.objects.update_or_create(
        alias=alias, defaults={"classifications": sorted(classifications), "approved_by": audit_actor(actor)}
    )
    audit_record(
        actor=audit_actor(actor),
        action="model_approval.set",
        target=approval,
        after={"alias": alias.name, "classifications": approval.classifications},
    )
    for use_case in UseCase.objects.filter(aliases=alias):
        api_keys_forget(use_case)
    return approval


# ---- reminders (Celery beat) ----


def reviews_escalate_overdue(*, now: dt.datetime | None = None) -> int:
    """Tells the board chair about every open review past its SLA, once per review."""

    now = now or timezone.now()
    escalated = 0
    for review_id in Review.objects.filter(
        status=Review.Status.OPEN, sla_due_at__lte=now, escalated_at__isnull=True
    ).values_list("pk", flat=True):
        with transaction.atomic():
            review = Review.objects.select_for_update().select_related("use_case__lob").get(pk=review_id)
            if review.escalated_at is not None:
                continue
            review.escalated_at = now
            review.save(update_fields=["escalated_at"])
            waiting = now - review.submitted_at
            notify(
                subject=f"Review overdue: {review.use_case} ({review.risk_tier} risk)",
                body=(
                    f"The review of {review.use_case} was submitted {review.submitted_at:%Y-%m-%d} and is past its "
                    f"SLA ({review.sla_due_at:%Y-%m-%d %H:%M}); it has waited {waiting.days} days. "
                    f"Sign-offs still needed: {', '.join(_missing_sign_offs(review)) or 'none'}."
                ),
                recipients=[settings.GOVERNANCE_BOARD_CHAIR_EMAIL],
                webhook_url=settings.GOVERNANCE_WEBHOOK_URL,
                event={"event": "review.overdue", "review": review.pk, "use_case": str(review.use_case)},
            )
            audit_record(actor="system", action="review.escalated", target=review, lob_slug=review.use_case.lob.slug)
            escalated += 1
    return escalated


def _missing_sign_offs(review: Review) -> list[str]:
    approved = set(review.decisions.filter(verdict="approve").values_list("specialty", flat=True))
    if review.required_specialties == ["any"]:
        return [] if approved else ["any reviewer"]
    return [s for s in review.required_specialties if s not in approved]


def approvals_warn_expiring(*, now: dt.datetime | None = None) -> int:
    """Warns each LOB's admins, once, that an approval expires within GOVERNANCE_EXPIRY_WARNING_DAYS."""

    now = now or timezone.now()
    horizon = now + dt.timedelta(days=settings.GOVERNANCE_EXPIRY_WARNING_DAYS)
    warned = 0
    for approval_id in Approval.objects.filter(
        status=Approval.Status.CURRENT, expires_at__lte=horizon, expires_at__gt=now, expiry_warning_sent_at__isnull=True
    ).values_list("pk", flat=True):
        with transaction.atomic():
            approval = Approval.objects.select_for_update().select_related("use_case__lob").get(pk=approval_id)
            if approval.expiry_warning_sent_at is not None:
                continue
            approval.expiry_warning_sent_at = now
            approval.save(update_fields=["expiry_warning_sent_at"])
            admins = Membership.objects.filter(lob=approval.use_case.lob, role=Membership.Role.LOB_ADMIN)
            notify(
                subject=f"Approval of {approval.use_case} expires on {approval.expires_at:%Y-%m-%d}",
                body=(
                    f"The governance approval of {approval.use_case} expires on {approval.expires_at:%Y-%m-%d}. "
                    "Submit it for review again before then to keep production traffic flowing."
                ),
                recipients=admins.values_list("user__email", flat=True),
                webhook_url=settings.GOVERNANCE_WEBHOOK_URL,
                event={
                    "event": "approval.expiring",
                    "use_case": str(approval.use_case),
                    "expires_at": approval.expires_at.isoformat(),
                },
            )
            warned += 1
    return warned
