from celery import shared_task

from .services import break_glass_expire_due


@shared_task(name="access.expire_break_glass", ignore_result=True)
def expire_break_glass() -> int:
    return break_glass_expire_due()


@shared_task(
    name="access.deliver_people_notice",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=8,
)
def deliver_people_notice(notice_id: int) -> None:
    """E-mails and posts one people notice (each at most once); an unreachable webhook is retried."""
    from .models import PeopleNotice
    from .notices import people_notice_deliver

    notice = PeopleNotice.objects.select_related("lob").filter(pk=notice_id).first()
    if notice is not None:
        people_notice_deliver(notice=notice)
