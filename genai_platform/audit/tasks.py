"""Audit log periodic work (Celery beat): thin wrappers over services."""

from celery import shared_task

from .services import audit_checkpoint as audit_checkpoint_service


# The task keeps the name it had in governance: beat schedules and queued messages still find it.
@shared_task(name="governance.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int:
    return len(audit_checkpoint_service())
