"""Metering tasks: thin wrappers over services, on the `platform` queue."""

from __future__ import annotations

import socket

from celery import shared_task

from .services import budget_alert_deliver, usage_flush


@shared_task(name="metering.flush_usage", ignore_result=True)
def flush_usage() -> int:
    return usage_flush(consumer=f"flusher-{socket.gethostname()}")


@shared_task(
    name="metering.budget_alert_send",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def budget_alert_send(budget_id: int, month: str, threshold: int) -> None:
    budget_alert_deliver(budget_id=budget_id, month=month, threshold=threshold)
