"""People and roles: user accounts, groups, and the LOB's own say over its people.

A LOB's people are the LOB's. Their credentials (password, e-mail, username) and the flags that
make an account more powerful (staff, superuser, groups, permissions) belong to the person, and
with single sign-on later to the identity provider: nobody else sets them, not even a superuser.
A central user may only deactivate (or reactivate) a LOB member's account, as a security
response. Every change here is audited with before and after (never a password or its hash),
and every central action on a LOB's people, refused attempts included, is told to that LOB
(`notices.people_notify`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.tenancy.models import Lob, Membership

from .enforcer import announce_policy_change
from .notices import people_notify
from .selectors import user_can_in_lob

#: Plain fields of an account that the services write and audit.
USER_FIELDS = ("username", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser")
#: What anyone but the person may change on a LOB member's account.
OTHERS_MAY_CHANGE = frozenset({"is_active", "first_name", "last_name"})
#: Stands for "make the password unusable" in `user_update(password=...)`.
UNUSABLE_PASSWORD = object()


class PeopleChangeRefused(PermissionDenied):
    """A change to a LOB member that only the person (or their LOB's admins) may make."""


def lobs_of_person(user: Any) -> list[Lob]:
    """The LOBs `user` is a member of."""
    if user is None or user.pk is None:
        return []
    return list(Lob.objects.filter(memberships__user=user).order_by("slug"))


def is_system(actor: Any) -> bool:
    """A management command, a migration or a task: not a person signed in to the portal or API."""
    return actor is None or isinstance(actor, str) or not getattr(actor, "is_authenticated", False)


def user_state(user: Any) -> dict[str, Any]:
    """What the audit log keeps of an account: never the password nor its hash, only whether it works."""
    state: dict[str, Any] = {name: getattr(user, name) for name in USER_FIELDS}
    state["password"] = "usable" if user.has_usable_password() else "unusable"
    if user.pk is not None:
        state["groups"] = sorted(user.groups.values_list("name", flat=True))
        state["user_permissions"] = sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list("content_type__app_label", "codename")
        )
    return state


def user_change_refused_fields(*, actor: Any, user: Any, fields: Iterable[str]) -> set[str]:
    """The fields of `fields` that `actor` may not change on `user`'s account (empty: all allowed).

    The person may change their own; the system may change anyone's; a LOB member's credentials and
    powers are refused to everybody else, superusers and central roles included."""
    fields = set(fields)
    if is_system(actor) or (user.pk is not None and actor.pk == user.pk):
        return set()
    if not lobs_of_person(user):
        return set()
    return fields - OTHERS_MAY_CHANGE


def user_change_refuse(*, actor: Any, user: Any, fields: Iterable[str], via: str) -> PeopleChangeRefused:
    """Records a refused attempt on `user` (audit event `user.change_refused`, LOB notice) in its own
    committed transaction, and returns the exception for the caller to raise."""
    attempted = sorted(set(fields))
    with transaction.atomic():
        event = audit_record(
            actor=audit_actor(actor),
            action="user.change_refused",
            target=user,
            after={"user": user.get_username(), "fields": attempted, "via": via},
        )
        people_notify(event=event, subject=user, actor=actor, refused=True)
    return PeopleChangeRefused(
        f"Only {user.get_username()} may change {', '.join(attempted)} of their account: it belongs to a line "
        "of business. A central user may deactivate it."
    )


def user_update(*, user: Any, actor: Any, via: str = "service", reason: str = "", **changes: Any) -> Any:
    """Changes `user`'s account: any of `USER_FIELDS`, `password` (plain text, or `UNUSABLE_PASSWORD`),
    `groups` and `user_permissions` (iterables). Refused fields are recorded and raise
    `PeopleChangeRefused` before anything is written."""
    unknown = set(changes) - set(USER_FIELDS) - {"password", "groups", "user_permissions"}
    if unknown:
        raise ValueError(f"unknown account fields: {sorted(unknown)}")
    changed = {name for name, value in changes.items() if _differs(user, name, value)}
    refused = user_change_refused_fields(actor=actor, user=user, fields=changed)
    if refused:
        raise user_change_refuse(actor=actor, user=user, fields=refused, via=via)
    return _user_write(
        user=user, actor=actor, changes={k: v for k, v in changes.items() if k in changed}, reason=reason
    )


def _differs(user: Any, name: str, value: Any) -> bool:
    if name == "password":
        return True
    if name == "groups":
        return set(user.groups.values_list("pk", flat=True)) != {g.pk for g in value}
    if name == "user_permissions":
        return set(user.user_permissions.values_list("pk", flat=True)) != {p.pk for p in value}
    return getattr(user, name) != value


@transaction.atomic
def _user_write(*, user: Any, actor: Any, changes: dict[str, Any], reason: str = "") -> Any:
    before = user_state(user)
    for name in USER_FIELDS:
        if name in changes:
            setattr(user, name, changes[name])
    if "password" in changes:
        if changes["password"] is UNUSABLE_PASSWORD:
            user.set_unusable_password()
        else:
            user.set_password(changes["password"])
    user.full_clean(exclude=["password"], validate_unique=True)
    user.save()
    if "groups" in changes:
        user.groups.set(changes["groups"])
    if "user_permissions" in changes:
        user.user_permissions.set(changes["user_permissions"])
    after = user_state(user)
    if "password" in changes:
        # The password itself is never recorded; that it was set is.
        after["password_set"] = True
    if reason:
        after["reason"] = reason
    action = _user_action(before, after)
    event = audit_record(actor=audit_actor(actor), action=action, target=user, before=before, after=after)
    people_notify(event=event, subject=user, actor=actor)
    return user


def _user_action(before: dict[str, Any], after: dict[str, Any]) -> str:
    if before["is_active"] and not after["is_active"]:
        return "user.deactivated"
    if not before["is_active"] and after["is_active"]:
        return "user.reactivated"
    if after.get("password_set"):
        return "user.password_set"
    return "user.updated"


def user_deactivate(*, user: Any, actor: Any, reason: str = "") -> Any:
    """Switches an account off at once (its sessions stop working at their next request): the one
    thing a central user may do to a LOB member's account, as a security response."""
    return user_update(user=user, actor=actor, is_active=False, via="deactivate", reason=reason)


@transaction.atomic
def user_create(*, user: Any, actor: Any, groups: Iterable[Group] = (), password: str | None = None) -> Any:
    """Saves a new account (`user` unsaved; its password hash may already be set by a form). A new
    account belongs to no LOB yet: its LOB's admins add it."""
    if user.pk is not None:
        raise ValueError("user_create saves a new account")
    if password is not None:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    if groups:
        user.groups.set(groups)
    audit_record(actor=audit_actor(actor), action="user.created", target=user, after=user_state(user))
    return user


def user_delete(*, user: Any, actor: Any) -> None:
    """Deletes an account; a LOB member's only by the person themselves or the system (others deactivate)."""
    if user_change_refused_fields(actor=actor, user=user, fields={"deleted"}):
        raise user_change_refuse(actor=actor, user=user, fields={"deleted"}, via="delete")
    with transaction.atomic():
        audit_record(actor=audit_actor(actor), action="user.deleted", target=user, before=user_state(user))
        user.delete()


# ---- groups ----


def _group_state(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "permissions": sorted(
            f"{app}.{codename}"
            for app, codename in group.permissions.values_list("content_type__app_label", "codename")
        ),
    }


@transaction.atomic
def group_save(*, group: Group, actor: Any, name: str, permissions: Iterable[Permission] | None = None) -> Group:
    """Creates or renames a group and sets its permissions, audited with before and after."""
    created = group.pk is None
    before = None if created else _group_state(Group.objects.get(pk=group.pk))
    group.name = name
    group.full_clean()
    group.save()
    if permissions is not None:
        group.permissions.set(permissions)
    audit_record(
        actor=audit_actor(actor),
        action="group.created" if created else "group.updated",
        target=group,
        before=before,
        after=_group_state(group),
    )
    return group


@transaction.atomic
def group_delete(*, group: Group, actor: Any) -> None:
    audit_record(actor=audit_actor(actor), action="group.deleted", target=group, before=_group_state(group))
    group.delete()


# ---- a LOB's first admin ----


@transaction.atomic
def lob_first_admin_set(*, lob: Lob, user: Any, actor: Any) -> Membership:
    """Makes `user` the first admin of a LOB that has none (onboarding). Four eyes: nobody makes
    themselves a LOB's first admin; from then on only the LOB's admins manage its members."""
    if not is_system(actor) and actor.pk == user.pk:
        raise PermissionDenied("Nobody makes themselves a line of business's first admin: name someone else.")
    if Membership.objects.filter(lob=lob, role=Membership.Role.LOB_ADMIN).exists():
        raise ValidationError("This line of business already has an admin: its admins manage its members.")
    if not user.is_active:
        raise ValidationError("The first admin must have an active account.")
    membership = Membership.objects.create(lob=lob, user=user, role=Membership.Role.LOB_ADMIN)
    event = audit_record(
        actor=audit_actor(actor),
        action="membership.first_admin",
        target=membership,
        lob_slug=lob.slug,
        before=None,
        after={"user": user.get_username(), "role": membership.role},
    )
    people_notify(event=event, subject=user, actor=actor, lobs=[lob])
    transaction.on_commit(announce_policy_change)
    return membership


def membership_change_allowed(*, actor: Any, lob: Lob) -> bool:
    """Only the LOB's admins (or the system) add, change or remove its members: nobody adds
    themselves to a LOB by any other path, central roles and superusers included."""
    return is_system(actor) or user_can_in_lob(actor, lob, "member", "write")
