from celery import shared_task

from .services import audit_checkpoint as audit_checkpoint_service


@shared_task(name="governance.audit_checkpoint", ignore_result=True)
def audit_checkpoint() -> int:
    return len(audit_checkpoint_service())
