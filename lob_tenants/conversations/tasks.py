"""Periodic work on stored responses (Celery beat)."""

from celery import shared_task

from .services import stored_responses_expire


@shared_task(name="conversations.expire_responses", ignore_result=True)
def expire_responses() -> int:
    return stored_responses_expire()
