"""Writes to access control: roles, policy lines and break-glass (sharing an object with another
LOB's use case is `lob_tenants.services.object_share`, above access). Each change is
audited in its own transaction and, once committed, announced so every process reloads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.tenancy.models import Lob, Membership

from . import notices, people
from .enforcer import announce_policy_change
from .models import BreakGlassRequest, CentralRoleAssignment, PolicyRule
from .selectors import VIEW_LOB_DATA, user_can_in_lob

MAX_BREAK_GLASS_MINUTES = 8 * 60


def membership_set(*, lob: Lob, user: Any, role: str, actor: Any = None) -> Membership:
    """Gives `user` a role in `lob` or changes it. Only the LOB's admins (or the system) may: nobody
    adds themselves to a LOB by another path; a refused attempt is audited and told to the LOB."""
    if not people.membership_change_allowed(actor=actor, lob=lob):
        raise _membership_refuse(actor=actor, lob=lob, user=user, what={"role": role})
    return _membership_write(lob=lob, user=user, role=role, actor=actor)


@transaction.atomic
def _membership_write(*, lob: Lob, user: Any, role: str, actor: Any) -> Membership:
    membership = Membership.objects.filter(user=user, lob=lob).first() or Membership(user=user, lob=lob)
    before = {"user": user.get_username(), "role": membership.role} if membership.pk else None
    membership.role = role
    membership.full_clean()
    membership.save()
    event = audit_record(
        actor=audit_actor(actor),
        action="membership.set",
        target=membership,
        lob_slug=lob.slug,
        before=before,
        after={"user": user.get_username(), "role": role},
    )
    notices.people_notify(event=event, subject=user, actor=actor, lobs=[lob])
    transaction.on_commit(announce_policy_change)
    return membership


def _membership_refuse(*, actor: Any, lob: Lob, user: Any, what: dict[str, Any]) -> PermissionDenied:
    with transaction.atomic():
        event = audit_record(
            actor=audit_actor(actor),
            action="membership.change_refused",
            object_type="lob_tenants.membership",
            object_id=f"{lob.slug}/{user.get_username()}",
            lob_slug=lob.slug,
            after={"user": user.get_username(), **what},
        )
        notices.people_notify(event=event, subject=user, actor=actor, refused=True, lobs=[lob])
    return PermissionDenied("Only the line of business's admins add, change or remove its members.")


def membership_remove(*, membership: Membership, actor: Any = None) -> None:
    if not people.membership_change_allowed(actor=actor, lob=membership.lob):
        raise _membership_refuse(actor=actor, lob=membership.lob, user=membership.user, what={"removed": True})
    _membership_delete(membership=membership, actor=actor)


@transaction.atomic
def _membership_delete(*, membership: Membership, actor: Any) -> None:
    event = audit_record(
        actor=audit_actor(actor),
        action="membership.removed",
        target=membership,
        lob_slug=membership.lob.slug,
        before={"user": membership.user.get_username(), "role": membership.role},
    )
    notices.people_notify(event=event, subject=membership.user, actor=actor, lobs=[membership.lob])
    membership.delete()
    transaction.on_commit(announce_policy_change)


@transaction.atomic
def central_role_grant(*, user: Any, role: str, specialty: str = "", actor: Any = None) -> CentralRoleAssignment:
    assignment = CentralRoleAssignment.objects.filter(user=user, role=role).first() or CentralRoleAssignment(
        user=user, role=role
    )
    before = {"user": user.get_username(), "role": role, "specialty": assignment.specialty} if assignment.pk else None
    assignment.specialty = specialty
    assignment.full_clean()
    assignment.save()
    event = audit_record(
        actor=audit_actor(actor),
        action="central_role.granted",
        target=assignment,
        before=before,
        after={"user": user.get_username(), "role": role, "specialty": specialty},
    )
    notices.people_notify(event=event, subject=user, actor=actor)
    transaction.on_commit(announce_policy_change)
    return assignment


@transaction.atomic
def policy_rule_add(*, role: str, domain: str, obj: str, act: str, actor: Any = None) -> PolicyRule:
    rule, _ = PolicyRule.objects.get_or_create(role=role, domain=domain, obj=obj, act=act)
    audit_record(actor=audit_actor(actor), action="policy_rule.added", target=rule, after={"rule": str(rule)})
    transaction.on_commit(announce_policy_change)
    return rule


@transaction.atomic
def policy_rule_remove(*, rule: PolicyRule, actor: Any = None) -> None:
    audit_record(actor=audit_actor(actor), action="policy_rule.removed", target=rule, before={"rule": str(rule)})
    rule.delete()
    transaction.on_commit(announce_policy_change)


# ---- break-glass ----


@transaction.atomic
def break_glass_request(*, requester: Any, lob: Lob, reason: str, duration_minutes: int) -> BreakGlassRequest:
    """A central user asks to read one LOB's data for a while, saying why."""
    if len(reason.strip()) < 20:
        raise ValidationError({"reason": "Say why you need access, in at least 20 characters."})
    if not 1 <= duration_minutes <= MAX_BREAK_GLASS_MINUTES:
        raise ValidationError({"duration_minutes": f"Access lasts between 1 and {MAX_BREAK_GLASS_MINUTES} minutes."})
    request = BreakGlassRequest.objects.create(
        requester=requester, lob=lob, reason=reason.strip(), duration_minutes=duration_minutes
    )
    event = audit_record(
        actor=audit_actor(requester),
        action="break_glass.requested",
        target=request,
        lob_slug=lob.slug,
        after={"reason": request.reason, "duration_minutes": duration_minutes},
    )
    notices.lob_notify(event=event, lob=lob, actor=requester)
    return request


@transaction.atomic
def break_glass_decide(*, request: BreakGlassRequest, approver: Any, approve: bool) -> BreakGlassRequest:
    """The LOB's admin approves (the grant starts now) or denies; nobody approves their own request."""
    request = BreakGlassRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != BreakGlassRequest.Status.PENDING:
        raise ValidationError(f"This request is already {request.status}.")
    if approver.pk == request.requester_id:
        raise PermissionDenied("nobody approves their own break-glass request")
    if not user_can_in_lob(approver, request.lob, "break_glass", "write"):
        raise PermissionDenied("only an admin of the LOB can decide on access to its data")
    now = timezone.now()
    request.decided_by, request.decided_at = approver, now
    if approve:
        request.status = BreakGlassRequest.Status.APPROVED
        request.expires_at = now + dt.timedelta(minutes=request.duration_minutes)
        assign_perm(VIEW_LOB_DATA, request.requester, request.lob)
    else:
        request.status = BreakGlassRequest.Status.DENIED
    request.save()
    audit_record(
        actor=audit_actor(approver),
        action=f"break_glass.{request.status}",
        target=request,
        lob_slug=request.lob.slug,
        after={"expires_at": request.expires_at.isoformat() if request.expires_at else None},
    )
    return request


def break_glass_expire_due(*, now: dt.datetime | None = None) -> int:
    """Revokes every approved grant whose time is up (Celery beat runs this every minute)."""
    now = now or timezone.now()
    expired = 0
    for request_id in BreakGlassRequest.objects.filter(
        status=BreakGlassRequest.Status.APPROVED, expires_at__lte=now
    ).values_list("pk", flat=True):
        with transaction.atomic():
            request = BreakGlassRequest.objects.select_for_update().get(pk=request_id)
            if request.status != BreakGlassRequest.Status.APPROVED:
                continue
            _end_grant(request, BreakGlassRequest.Status.EXPIRED, actor="system")
            expired += 1
    return expired


@transaction.atomic
def break_glass_revoke(*, request: BreakGlassRequest, actor: Any) -> BreakGlassRequest:
    """Ends an approved grant early (its LOB admin or the requester)."""
    request = BreakGlassRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != BreakGlassRequest.Status.APPROVED:
        raise ValidationError(f"This request is {request.status}, not approved.")
    if actor.pk != request.requester_id and not user_can_in_lob(actor, request.lob, "break_glass", "write"):
        raise PermissionDenied("only the requester or an admin of the LOB can end this access")
    _end_grant(request, BreakGlassRequest.Status.REVOKED, actor=audit_actor(actor))
    return request


def _end_grant(request: BreakGlassRequest, status: str, *, actor: str) -> None:
    # Another approved, unexpired request of the same person for the same LOB keeps the permission.
    others = BreakGlassRequest.objects.filter(
        requester_id=request.requester_id,
        lob_id=request.lob_id,
        status=BreakGlassRequest.Status.APPROVED,
        expires_at__gt=timezone.now(),
    ).exclude(pk=request.pk)
    if not others.exists():
        remove_perm(VIEW_LOB_DATA, request.requester, request.lob)
    request.status = status
    request.save(update_fields=["status"])
    audit_record(actor=actor, action=f"break_glass.{status}", target=request, lob_slug=request.lob.slug)
