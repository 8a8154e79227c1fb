"""Ledger tasks: thin wrappers over services, on the `platform` queue."""

from __future__ import annotations

import socket

from celery import shared_task

from .services import usage_flush


# The name predates this app (metering owned the flusher): beat schedules and runbooks use it.
@shared_task(name="metering.flush_usage", ignore_result=True)
def flush_usage() -> int:
    return usage_flush(consumer=f"flusher-{socket.gethostname()}")
