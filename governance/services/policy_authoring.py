"""Writing guardrail policies from the portal and the management API: a policy is created, audited,
with its first draft; drafts, shadow and enforced publishing are the guardrail policy services'."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from genai_platform.audit.services import audit_actor, audit_record
from lob_tenants.models import Lob, UseCase

from ..models import GuardrailPolicyRecord, GuardrailPolicyVersion
from .guardrail_policies import guardrail_draft_save


@transaction.atomic
def guardrail_policy_draft(
    *,
    scope: str,
    name: str,
    document: dict[str, Any],
    actor: Any,
    lob: Lob | None = None,
    use_case: UseCase | None = None,
) -> GuardrailPolicyVersion:
    """Saves the draft of policy `name` of `scope` (creating the policy, audited, on its first draft).

    The owner must match the scope: none for `central`, a LOB for `lob`, a use case for `use_case`."""
    expected = {
        GuardrailPolicyRecord.Scope.CENTRAL: (lob is None and use_case is None),
        GuardrailPolicyRecord.Scope.LOB: (lob is not None and use_case is None),
        GuardrailPolicyRecord.Scope.USE_CASE: (lob is None and use_case is not None),
    }
    if scope not in expected:
        raise ValidationError({"scope": f"One of {', '.join(GuardrailPolicyRecord.Scope.values)}."})
    if not expected[scope]:
        raise ValidationError(
            {"scope": "A central policy has no owner; a LOB policy names a LOB; a use-case policy a use case."}
        )
    record, created = GuardrailPolicyRecord.objects.get_or_create(scope=scope, lob=lob, use_case=use_case, name=name)
    if created:
        record.full_clean()
        owner = lob.slug if lob else use_case.lob.slug if use_case else ""
        audit_record(
            actor=audit_actor(actor),
            action="guardrail_policy.created",
            target=record,
            lob_slug=owner,
            after={
                "scope": scope,
                "name": name,
                "lob": lob.slug if lob else None,
                "use_case": f"{use_case.lob.slug}/{use_case.slug}" if use_case else None,
            },
        )
    return guardrail_draft_save(policy=record, document=document, actor=actor)
