from celery import shared_task

from .services import break_glass_expire_due


@shared_task(name="access.expire_break_glass", ignore_result=True)
def expire_break_glass() -> int:
    return break_glass_expire_due()
