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
    target: models.Model,
    lob_slug: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str = "",
) -> AuditEvent:
    """Writes one audit event. Call it inside the transaction of the change it records."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        object_type=target._meta.label_lower,
        object_id=str(target.pk),
        lob_slug=lob_slug,
        before=before,
        after=after,
        request_id=request_id,
    )
