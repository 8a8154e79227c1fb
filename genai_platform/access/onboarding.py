"""Onboarding a line of business: the LOB and its first admin, in one audited transaction; and the
LOB's own record (`lob_upsert`), which the portal's LOB page and the demo seed write too.

Four-eyes: the platform admin who onboards a LOB cannot make themselves its first admin; a
platform role and a LOB's administration stay with different people from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email, validate_slug
from django.db import transaction

from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.tenancy.models import Lob

from .notices import lob_notify
from .people import lob_first_admin_set


@dataclass(frozen=True)
class Onboarded:
    lob: Lob
    admin: Any
    #: Whether the admin's account was created here (they set a password through a reset, or sign in by SSO).
    admin_created: bool


@transaction.atomic
def lob_upsert(*, slug: str, name: str, business_owner: str = "", cost_center: str = "", actor: Any = None) -> Lob:
    """Creates LOB `slug` or updates its details, audited; a change to an existing LOB is told to its
    admins. The bare record: onboarding (`lob_onboard`) adds the first admin."""
    existing = Lob.objects.filter(slug=slug).values("name", "business_owner", "cost_center").first()
    lob, created = Lob.objects.update_or_create(
        slug=slug, defaults={"name": name, "business_owner": business_owner, "cost_center": cost_center}
    )
    event = audit_record(
        actor=audit_actor(actor),
        action="lob.created" if created else "lob.updated",
        target=lob,
        lob_slug=lob.slug,
        before=existing,
        after={"name": name, "business_owner": business_owner, "cost_center": cost_center},
    )
    if not created:
        # A central change to the LOB's own record is told to its admins (access-control.md).
        lob_notify(event=event, lob=lob, actor=actor)
    return lob


@transaction.atomic
def lob_onboard(
    *,
    slug: str,
    name: str,
    admin_username: str,
    actor: Any,
    admin_email: str = "",
    business_owner: str = "",
    cost_center: str = "",
) -> Onboarded:
    """Creates LOB `slug` and makes `admin_username` its first LOB admin (creating the account,
    without a usable password, if it does not exist). Refuses an existing LOB and refuses the
    onboarding platform admin as the LOB's first admin."""
    errors: dict[str, list[str]] = {}
    try:
        validate_slug(slug)
    except ValidationError as error:
        errors["slug"] = error.messages
    if Lob.objects.filter(slug=slug).exists():
        errors["slug"] = ["A line of business with this slug exists; onboarding is for a new one."]
    if not name.strip():
        errors["name"] = ["Name the line of business."]
    if admin_email:
        try:
            validate_email(admin_email)
        except ValidationError as error:
            errors["admin_email"] = error.messages
    if not admin_username.strip():
        errors["admin_username"] = ["Name the LOB's first admin."]
    elif admin_username == audit_actor(actor):
        errors["admin_username"] = [
            "Four-eyes: you cannot make yourself the first admin of a LOB you onboard; name someone else."
        ]
    if errors:
        raise ValidationError(errors)
    users = get_user_model()
    admin = users.objects.filter(username=admin_username).first()
    created = admin is None
    if created:
        admin = users(username=admin_username, email=admin_email, is_staff=True)
        admin.set_unusable_password()
        admin.full_clean()
        admin.save()
    elif not admin.is_active:
        raise ValidationError({"admin_username": ["This account is deactivated."]})
    lob = lob_upsert(slug=slug, name=name, business_owner=business_owner, cost_center=cost_center, actor=actor)
    # The LOB's first admin, through the one path that may add a member who is not added by the LOB's admins.
    lob_first_admin_set(lob=lob, user=admin, actor=actor)
    audit_record(
        actor=audit_actor(actor),
        action="lob.onboarded",
        target=lob,
        lob_slug=lob.slug,
        before=None,
        after={"lob": slug, "name": name, "first_admin": admin_username, "admin_account_created": created},
    )
    return Onboarded(lob=lob, admin=admin, admin_created=created)
