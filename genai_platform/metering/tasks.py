"""Metering tasks: thin wrappers over services, on the `platform` queue."""

from __future__ import annotations

from celery import shared_task

from .partitions import ledger_partitions_archive, ledger_partitions_ensure
from .services import budget_alert_deliver


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


# Partition maintenance needs the tables' owner role: beat sends these to LEDGER_MAINTENANCE_QUEUE.
@shared_task(name="metering.partitions_ensure", ignore_result=True)
def partitions_ensure() -> int:
    return len(ledger_partitions_ensure())


@shared_task(name="metering.partitions_archive", ignore_result=True)
def partitions_archive() -> int:
    return len(ledger_partitions_archive())
