"""Governance writes. `audit_record` is the one way anything writes to the audit log."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from .models import AuditEvent


def audit_actor(user: Any) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return user.get_username()


def audit_record(
    *,
    actor: str,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    lob_slug: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str = "",
) -> AuditEvent:
    """Writes one audit event. Call it inside the transaction of the change it records.

    The subject is `target`, or for a change with no single row as its subject (a catalog
    import), an explicit `object_type` and `object_id`."""
    if target is not None:
        object_type, object_id = target._meta.label_lower, str(target.pk)
    if not object_type or not object_id:
        raise ValueError("an audit event needs a target or an object_type and object_id")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        lob_slug=lob_slug,
        before=before,
        after=after,
        request_id=request_id,
    )
