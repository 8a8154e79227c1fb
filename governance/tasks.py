"""Governance periodic work (Celery beat): thin wrappers over services."""

from celery import shared_task

from .services.workflow import approvals_expire_due, approvals_warn_expiring, reviews_escalate_overdue


@shared_task(name="governance.expire_approvals", ignore_result=True)
def expire_approvals() -> int:
    return approvals_expire_due()


@shared_task(name="governance.remind", ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def remind() -> int:
    return reviews_escalate_overdue() + approvals_warn_expiring()
