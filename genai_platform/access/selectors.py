"""Who may do what: every authorization decision of the management API and the portal comes from here."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from genai_platform.tenancy.models import Lob, LobUserObjectPermission

from .enforcer import lob_domain, policy_enforcer, user_subject
from .models import CENTRAL, BreakGlassRequest

VIEW_LOB_DATA = "lob_tenants.view_lob_data"


def user_can(user: Any, domain: str, obj: str, act: str) -> bool:
    """Whether `user` may `act` on objects of kind `obj` in `domain` (`central` or `lob:<slug>`).

    A Django superuser counts as a platform admin of the central domain, nothing more: being a
    superuser does not open any LOB's data."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser and domain == CENTRAL:
        return True
    return policy_enforcer().enforce(user_subject(user.pk), domain, obj, act)


def user_can_in_lob(user: Any, lob: Lob, obj: str, act: str) -> bool:
    return user_can(user, lob_domain(lob.slug), obj, act)


def lobs_for(user: Any, obj: str, act: str) -> QuerySet[Lob]:
    """The LOBs in which `user` may `act` on `obj`: what a list view may show them."""
    if user is None or not user.is_authenticated:
        return Lob.objects.none()
    candidates = Lob.objects.filter(memberships__user=user).distinct()
    allowed = [lob.pk for lob in candidates if user_can_in_lob(user, lob, obj, act)]
    return Lob.objects.filter(pk__in=allowed)


def can_read_lob_data(user: Any, lob: Lob) -> bool:
    """LOB data (captured prompts and outputs, vector-store contents) is readable by the LOB's own
    members with the right role, and by a central user only through an approved, unexpired
    break-glass grant."""
    if user_can_in_lob(user, lob, "lob_data", "read"):
        return True
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    # The grant row itself, not `user.has_perm`, which is true for every superuser.
    return LobUserObjectPermission.objects.filter(
        user=user, content_object=lob, permission__codename=VIEW_LOB_DATA.split(".")[1]
    ).exists()


def break_glass_moves(user: Any, request: BreakGlassRequest) -> frozenset[str]:
    """What `user` may do to a break-glass request now: `approve` or `deny` it (an admin of its LOB,
    never the requester, while it is pending), `revoke` it (the requester or an admin of its LOB,
    while it is approved). The services decide again; this is what a page offers."""
    decides = user_can_in_lob(user, request.lob, "break_glass", "write")
    if request.status == BreakGlassRequest.Status.PENDING and decides and user.pk != request.requester_id:
        return frozenset({"approve", "deny"})
    if request.status == BreakGlassRequest.Status.APPROVED and (decides or user.pk == request.requester_id):
        return frozenset({"revoke"})
    return frozenset()
