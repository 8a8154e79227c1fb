"""Guardrail policies as data: drafts, immutable published versions, tighten-only scopes, and the
effective policy of a use case (cached, invalidated on publish)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from genai_platform import hotcache
from genai_platform.audit.services import audit_actor, audit_record

from ..guardrails.engine import GuardrailEngine
from ..guardrails.merge import merge, validate_tightening
from ..guardrails.policy import (
    ADDRESS_ENTITIES,
    IDENTITY_DOCUMENT_ENTITIES,
    PII_ENTITIES,
    GuardrailPolicy,
    PolicyError,
    Scope,
)
from ..models import Approval, GuardrailPolicyRecord, GuardrailPolicyVersion

# The shadow-rollout tallies live in their own module; their names stay importable from here.
from ..shadow_rollout import ShadowTally as ShadowTally
from ..shadow_rollout import shadow_label
from ..shadow_rollout import shadow_report as shadow_report
from ..shadow_rollout import shadow_tally as shadow_tally


@dataclass(frozen=True)
class EffectivePolicy:
    """What the gateway applies to one use case: the merged policy, the versions it came from, and
    any version running in shadow."""

    policy: GuardrailPolicy | None
    label: str
    shadow: GuardrailPolicy | None = None
    shadow_label: str = ""


@cache
def guardrail_engine() -> GuardrailEngine:
    """This process's engine (built once: its analyzers take about half a second). Its digest key comes
    from the secret key, so finding digests agree across processes without revealing the values."""
    return GuardrailEngine(hash_key=hashlib.sha256(f"guardrails:{settings.SECRET_KEY}".encode()).digest())


def guardrail_engine_warm_up(engine: GuardrailEngine | None = None) -> int:
    """Builds now, in this process, what the latest published version (enforced or shadow) of every
    policy needs: Presidio's analyzers for a personal-data rule, the NER model only when a rule asks
    for names, places or organisations. A gateway process calls it at start so its first call does
    not wait seconds; a process that never checks text never calls it. Returns the versions read."""
    engine = engine or guardrail_engine()
    records = list(GuardrailPolicyRecord.objects.all())
    versions = _latest(records, GuardrailPolicyVersion.Mode.ENFORCED) + _latest(
        records, GuardrailPolicyVersion.Mode.SHADOW
    )
    for version in versions:
        engine.prepare(_policy_for(version))
    return len(versions)


def _policy_for(version: GuardrailPolicyVersion) -> GuardrailPolicy:
    record = version.policy
    document = {**version.document, "name": record.name, "scope": record.scope, "version": version.number or 0}
    return GuardrailPolicy.from_dict(document)


def _parse(record: GuardrailPolicyRecord, document: dict[str, Any]) -> GuardrailPolicy:
    try:
        return GuardrailPolicy.from_dict({**document, "name": record.name, "scope": record.scope, "version": 0})
    except PolicyError as exc:
        raise ValidationError(str(exc)) from exc


def _latest(records: list[GuardrailPolicyRecord], mode: str) -> list[GuardrailPolicyVersion]:
    versions = []
    for record in records:
        version = (
            record.versions.filter(status=GuardrailPolicyVersion.Status.PUBLISHED, mode=mode)
            .order_by("-number")
            .first()
        )
        if version is not None:
            versions.append(version)
    return versions


def _scope_records(*, lob_id: int | None, use_case_id: int | None) -> dict[str, list[GuardrailPolicyRecord]]:
    records = GuardrailPolicyRecord.objects.select_related("lob", "use_case")
    return {
        Scope.CENTRAL: list(records.filter(scope=GuardrailPolicyRecord.Scope.CENTRAL)),
        Scope.LOB: list(records.filter(scope=GuardrailPolicyRecord.Scope.LOB, lob_id=lob_id)) if lob_id else [],
        Scope.USE_CASE: (
            list(records.filter(scope=GuardrailPolicyRecord.Scope.USE_CASE, use_case_id=use_case_id))
            if use_case_id
            else []
        ),
    }


def _pinned(versions: list[GuardrailPolicyVersion], use_case_id: int) -> list[GuardrailPolicyVersion]:
    """Applies the approval's pin (`<policy name>@v<number>`): that use-case policy's version is the
    one the board reviewed, whatever was published since."""

    pin = (
        Approval.objects.filter(use_case_id=use_case_id, status=Approval.Status.CURRENT)
        .values_list("guardrail_policy_version", flat=True)
        .first()
    )
    if not pin or "@v" not in pin:
        return versions
    name, _, number = pin.rpartition("@v")
    pinned = GuardrailPolicyVersion.objects.filter(
        policy__scope=GuardrailPolicyRecord.Scope.USE_CASE,
        policy__use_case_id=use_case_id,
        policy__name=name,
        number=int(number) if number.isdigit() else -1,
        status=GuardrailPolicyVersion.Status.PUBLISHED,
    ).first()
    if pinned is None:
        return versions
    return [pinned if v.policy_id == pinned.policy_id else v for v in versions]


def _merged(versions: list[GuardrailPolicyVersion]) -> GuardrailPolicy | None:
    policies = [_policy_for(v) for v in versions]
    if not policies:
        return None
    return merge(policies[0], *policies[1:]) if len(policies) > 1 else merge(policies[0])


def _label(versions: list[GuardrailPolicyVersion]) -> str:
    return "+".join(f"{v.policy.name}@v{v.number}" for v in versions)


def effective_policy(*, lob_id: int, use_case_id: int) -> EffectivePolicy:
    """Central baseline, then the LOB's policies, then the use case's: each can only tighten."""
    key = f"guardrails:effective:{hotcache.generation('guardrails')}:{lob_id}:{use_case_id}"
    return hotcache.lookup(key, lambda: _load_effective(lob_id=lob_id, use_case_id=use_case_id))


def _load_effective(*, lob_id: int, use_case_id: int) -> EffectivePolicy:
    scopes = _scope_records(lob_id=lob_id, use_case_id=use_case_id)
    records = scopes[Scope.CENTRAL] + scopes[Scope.LOB] + scopes[Scope.USE_CASE]
    enforced = _pinned(_latest(records, GuardrailPolicyVersion.Mode.ENFORCED), use_case_id)
    shadows = _latest(records, GuardrailPolicyVersion.Mode.SHADOW)
    if not shadows:
        return EffectivePolicy(policy=_merged(enforced), label=_label(enforced))
    # The shadow candidate is the enforced stack with each shadowed policy replaced by its shadow version.
    shadowed = {v.policy_id for v in shadows}
    candidate = [v for v in enforced if v.policy_id not in shadowed] + shadows
    candidate.sort(key=lambda v: [Scope.CENTRAL, Scope.LOB, Scope.USE_CASE].index(Scope(v.policy.scope)))
    return EffectivePolicy(
        policy=_merged(enforced), label=_label(enforced), shadow=_merged(candidate), shadow_label=shadow_label(shadows)
    )


def _parent_policy(record: GuardrailPolicyRecord) -> GuardrailPolicy | None:
    """What a policy of `record`'s scope must not loosen: the merged scopes above it."""
    if record.scope == GuardrailPolicyRecord.Scope.CENTRAL:
        return None
    lob_id = record.lob_id or (record.use_case.lob_id if record.use_case_id else None)
    scopes = _scope_records(lob_id=lob_id, use_case_id=None)
    above = scopes[Scope.CENTRAL] + (scopes[Scope.LOB] if record.scope == GuardrailPolicyRecord.Scope.USE_CASE else [])
    return _merged(_latest(above, GuardrailPolicyVersion.Mode.ENFORCED))


@transaction.atomic
def guardrail_draft_save(
    *, policy: GuardrailPolicyRecord, document: dict[str, Any], actor: Any
) -> GuardrailPolicyVersion:
    """Saves the policy's draft. A LOB or use-case draft that loosens anything above it is refused,
    naming each rule and setting."""
    candidate = _parse(policy, document)
    parent = _parent_policy(policy)
    if parent is not None:
        violations = validate_tightening(parent, candidate)
        if violations:
            raise ValidationError([violation.message for violation in violations])
    draft = policy.versions.filter(status=GuardrailPolicyVersion.Status.DRAFT).first() or GuardrailPolicyVersion(
        policy=policy
    )
    # Before: the draft being replaced, or for a new draft the version it starts from (the latest published).
    previous = draft if draft.pk else policy.versions.filter(status=GuardrailPolicyVersion.Status.PUBLISHED).first()
    before = _version_state(previous) if previous is not None else None
    draft.document = {k: v for k, v in candidate.to_dict().items() if k in ("rules",)}
    draft.fingerprint = candidate.fingerprint()
    draft.save()
    audit_record(
        actor=audit_actor(actor),
        action="guardrail_policy.draft_saved",
        target=draft,
        lob_slug=_owner_slug(policy),
        before=before,
        after=_version_state(draft),
    )
    return draft


@transaction.atomic
def guardrail_publish(
    *, version: GuardrailPolicyVersion, actor: Any, mode: str = GuardrailPolicyVersion.Mode.ENFORCED
) -> GuardrailPolicyVersion:
    """Numbers and freezes a draft; enforced at once, or run in shadow (detect-only) beside the enforced one."""
    version = GuardrailPolicyVersion.objects.select_for_update().select_related("policy").get(pk=version.pk)
    if version.status != GuardrailPolicyVersion.Status.DRAFT:
        raise ValidationError("Only a draft can be published; published versions never change.")
    parent = _parent_policy(version.policy)
    if parent is not None:
        violations = validate_tightening(parent, _policy_for(version))
        if violations:
            raise ValidationError([violation.message for violation in violations])
    latest = version.policy.versions.aggregate(latest=Max("number"))["latest"] or 0
    before = _version_state(version)
    version.number, version.status, version.mode = latest + 1, GuardrailPolicyVersion.Status.PUBLISHED, mode
    version.published_at, version.published_by = timezone.now(), audit_actor(actor)
    version.save()
    audit_record(
        actor=audit_actor(actor),
        action=f"guardrail_policy.published_{mode}",
        target=version,
        lob_slug=_owner_slug(version.policy),
        before=before,
        after=_version_state(version),
    )
    transaction.on_commit(lambda: hotcache.generation_bump("guardrails"))
    return version


def _version_state(version: GuardrailPolicyVersion) -> dict[str, Any]:
    """A version as the audit log keeps it: enough to tell what changed (the rules themselves)."""
    return {
        "number": version.number,
        "status": version.status,
        "mode": version.mode,
        "fingerprint": version.fingerprint,
        "rules": version.document.get("rules", []),
    }


def _owner_slug(policy: GuardrailPolicyRecord) -> str:
    if policy.lob_id:
        return policy.lob.slug
    if policy.use_case_id:
        return policy.use_case.lob.slug
    return ""


@transaction.atomic
def central_baseline_install(*, actor: Any) -> GuardrailPolicyVersion:
    """The sensible default baseline `seed_demo` installs: mask personal data (identifiers, names,
    street addresses, dates of birth, identity documents), block secrets and injection, and leave
    out retrieved chunks and tool results that carry instructions."""

    personal = [*PII_ENTITIES, *ADDRESS_ENTITIES, "DATE_OF_BIRTH", *IDENTITY_DOCUMENT_ENTITIES]

    record, _ = GuardrailPolicyRecord.objects.get_or_create(
        scope=GuardrailPolicyRecord.Scope.CENTRAL, lob=None, use_case=None, name="central-baseline"
    )
    published = record.versions.filter(status=GuardrailPolicyVersion.Status.PUBLISHED).first()
    if published is not None:
        return published
    rules = [
        # Names need the NER model, loaded by the processes that check input; answers get the patterns.
        {"check": "pii", "direction": "input", "action": "mask", "entities": [*personal, "PERSON"]},
        {"check": "pii", "direction": "output", "action": "mask", "entities": personal},
        {"check": "secrets", "direction": "input", "action": "block"},
        {"check": "secrets", "direction": "output", "action": "mask"},
        {"check": "injection", "direction": "input", "action": "block"},
        {"check": "indirect_injection", "direction": "input", "action": "drop"},
        {"check": "size", "direction": "input", "action": "block", "max_chars": settings.GATEWAY_MAX_BODY_BYTES},
    ]
    draft = guardrail_draft_save(policy=record, document={"rules": rules}, actor=actor)
    return guardrail_publish(version=draft, actor=actor)
